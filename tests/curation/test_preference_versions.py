"""Preference versions: approved pairs in OpenAI's preference format, with the manifest,
sha256, leak-free splits (pairs sharing a prompt stay together) and no pair twice; SFT
versions export the chosen reply."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management import CommandError, call_command

from curation.models import (
    ConversationStatus,
    FindingDecision,
    FindingSource,
    PairChoice,
    PiiFinding,
    VersionExample,
)
from tests.curation.version_helpers import build, lines, manifest, read, splits_of
from tests.factories import ConversationFactory, PreferencePairFactory, chat

pytestmark = pytest.mark.django_db


def pair(dataset, *, user="Question?", good="Good.", bad="Bad.", **fields):  # type: ignore[no-untyped-def]
    conversation = ConversationFactory(
        dataset=dataset,
        status=fields.pop("status", ConversationStatus.APPROVED),
        original=chat(user=user, assistant=good),
    )
    return PreferencePairFactory(
        conversation=conversation,
        alternative=[{"role": "assistant", "content": bad}],
        **fields,
    )


def test_snapshot_cli_writes_openai_preference_lines_from_approved_ranked_pairs(dataset, capsys):
    kept = pair(dataset, user="Capital of Peru?", good="Lima.", bad="Cusco.")
    swapped = pair(dataset, user="2+2?", good="5", bad="4", choice=PairChoice.B)
    pair(dataset, user="Unranked?", choice=PairChoice.UNRANKED)
    pair(dataset, user="Unticked?", active=False)
    pair(dataset, user="Not approved?", status=ConversationStatus.IN_REVIEW)
    ConversationFactory(dataset=dataset, status=ConversationStatus.APPROVED)  # no pair
    call_command(
        "snapshot",
        "--dataset",
        dataset.slug,
        "--format",
        "preference",
        "--validation-fraction",
        "0",
        "--json",
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["format"], summary["examples"], summary["train"]) == ("preference", 2, 2)
    version = dataset.versions.get(number=summary["version"])
    assert version.format == "preference"
    rows = lines(version, "train.jsonl")
    assert rows[0] == {
        "input": {
            "messages": [
                {"role": "system", "content": "Be helpful."},
                {"role": "user", "content": "Capital of Peru?"},
            ]
        },
        "preferred_output": [{"role": "assistant", "content": "Lima."}],
        "non_preferred_output": [{"role": "assistant", "content": "Cusco."}],
    }
    assert rows[1]["preferred_output"][0]["content"] == "4"
    assert rows[1]["non_preferred_output"][0]["content"] == "5"
    assert sorted(splits_of(version)) == sorted([kept.conversation_id, swapped.conversation_id])
    for name in ("train.jsonl", "validation.jsonl"):
        assert hashlib.sha256(read(version, name)).hexdigest() == version.files[name]["sha256"]
    assert manifest(version)["example_format"] == "preference"


def test_pairs_sharing_a_prompt_stay_in_one_split_and_an_identical_pair_is_kept_once(dataset):
    for number in range(30):
        for variant in range(3):
            pair(dataset, user=f"Prompt {number}", good=f"Good {variant}", bad=f"Bad {variant}")
    # The same pair on two conversations (e.g. the same data imported with other metadata).
    twin_a = pair(dataset, user="Twin", good="Same.", bad="Other.")
    twin_b = pair(dataset, user="Twin", good="Same.", bad="Other.")
    version = build(dataset, validation_fraction=0.5, seed=3, format="preference")
    assert version.duplicates_merged == 1
    assert version.examples == 91
    by_prompt: dict[str, set[str]] = {}
    for name in ("train", "validation"):
        for row in lines(version, f"{name}.jsonl"):
            by_prompt.setdefault(row["input"]["messages"][-1]["content"], set()).add(name)
    assert all(len(found) == 1 for found in by_prompt.values())
    assert {"train"} in by_prompt.values() and {"validation"} in by_prompt.values()
    members = VersionExample.objects.filter(version=version)
    assert members.get(conversation_id=twin_b.conversation_id).duplicate_of == (
        twin_a.conversation_id
    )


def test_rebuilding_a_preference_version_gives_byte_identical_files(dataset):
    for number in range(10):
        pair(dataset, user=f"Prompt {number}")
    first = build(dataset, validation_fraction=0.3, seed=1, format="preference")
    second = build(dataset, validation_fraction=0.3, seed=1, format="preference")
    for name in ("train.jsonl", "validation.jsonl"):
        assert read(first, name) == read(second, name)


def test_redaction_covers_prompt_and_both_replies_in_the_file(dataset):
    email = "maria.gonzalez@example.org"
    item = pair(dataset, user=f"Mail {email}", good=f"Sent to {email}.", bad=f"{email}?")
    PiiFinding.objects.create(
        conversation=item.conversation,
        message_index=1,
        field="content",
        start=5,
        end=5 + len(email),
        entity_type="EMAIL_ADDRESS",
        score=1.0,
        source=FindingSource.DETECTOR,
        decision=FindingDecision.REDACT,
    )
    version = build(dataset, validation_fraction=0, format="preference")
    data = read(version, "train.jsonl").decode()
    assert email not in data
    row = json.loads(data)
    assert row["non_preferred_output"][0]["content"] == "<EMAIL_ADDRESS_1>?"
    assert row["preferred_output"][0]["content"] == "Sent to <EMAIL_ADDRESS_1>."


def test_sft_version_exports_the_chosen_reply_of_a_pair(dataset):
    pair(dataset, user="Which?", good="Original.", bad="Alternative.", choice=PairChoice.B)
    pair(dataset, user="Other?", good="Kept.", bad="Dropped.")
    version = build(dataset, validation_fraction=0)
    replies = sorted(row["messages"][-1]["content"] for row in lines(version, "train.jsonl"))
    assert replies == ["Alternative.", "Kept."]
    assert version.format == "sft"


def test_a_preference_snapshot_without_pairs_is_refused_with_a_reason(dataset):
    ConversationFactory(dataset=dataset, status=ConversationStatus.APPROVED)
    with pytest.raises(CommandError, match="no approved preference pair"):
        call_command("snapshot", "--dataset", dataset.slug, "--format", "preference")


def test_the_page_freezes_a_preference_version_and_shows_its_kind(
    dataset, admin_user, reviewer, client_for
):
    from django.urls import reverse

    from curation.models import DatasetVersion

    pair(dataset, user="Page?")
    url = reverse("version_create", args=[dataset.slug])
    form = {"validation_fraction": "0", "seed": "0", "format": "preference", "action": "create"}
    assert client_for(reviewer).post(url, form).status_code == 403
    response = client_for(admin_user).post(url, form)
    assert response.status_code == 302
    version = DatasetVersion.objects.get(dataset=dataset)
    assert version.format == "preference"
    from curation.services.versions.build import run_build_job

    run_build_job(version_id=version.pk)
    page = client_for(reviewer).get(reverse("version_detail", args=[dataset.slug, 1]))
    assert b"Preference pairs (DPO)" in page.content
    listing = client_for(reviewer).get(reverse("version_list", args=[dataset.slug]))
    assert b">preference</span>" in listing.content
