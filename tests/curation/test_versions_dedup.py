"""Invariant 8 on the exported text: no two identical examples in a version, and identical or
near-identical exported examples always in the same split — judged on the redacted text with
reviewer edits (the bytes written), not on the originals."""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from curation.models import (
    ConversationRevision,
    ConversationStatus,
    DatasetVersion,
    PiiFinding,
    VersionExample,
)
from curation.services.versions.diff import iter_diff
from curation.splits import near_duplicate_key
from tests.conftest import REFERENCE
from tests.curation.version_helpers import build, cookbook_tokens, manifest, read
from tests.factories import ConversationFactory, chat

pytestmark = pytest.mark.django_db

COMPANIES = ["OpenAI", "Google", "Anthropic", "Meta", "Mistral", "Cohere"]


def exported(version: DatasetVersion) -> dict[str, list[bytes]]:
    return {
        split: read(version, f"{split}.jsonl").splitlines() for split in ("train", "validation")
    }


def assert_duplicate_free_and_leak_free(version: DatasetVersion) -> None:
    files = exported(version)
    every = files["train"] + files["validation"]
    assert [line for line, n in Counter(every).items() if n > 1] == []
    near = {
        split: {near_duplicate_key(json.loads(line)["messages"]) for line in lines}
        for split, lines in files.items()
    }
    assert near["train"] & near["validation"] == set()


def trained_by(dataset, company: str, **fields):  # type: ignore[no-untyped-def]
    """A conversation whose company name is tagged, so that every one exports the same text."""
    question = f"Are you trained by {company}?"
    conversation = ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.APPROVED,
        original=chat(user=question, assistant="I am a model trained by Curator.", system=None),
        **fields,
    )
    start = question.index(company)
    PiiFinding.objects.create(
        conversation=conversation,
        message_index=0,
        start=start,
        end=start + len(company),
        entity_type="ORGANIZATION",
    )
    return conversation


def test_originals_that_redact_to_the_same_text_are_merged_into_the_smallest_id(dataset):
    copies = [trained_by(dataset, company) for company in COMPANIES]
    ConversationFactory.create_batch(4, dataset=dataset, status=ConversationStatus.APPROVED)
    version = build(dataset, validation_fraction=0.5)
    assert (version.examples, version.duplicates_merged) == (5, 5)
    files = exported(version)
    assert sum(b"<ORGANIZATION_1>" in line for line in files["train"] + files["validation"]) == 1
    assert_duplicate_free_and_leak_free(version)
    kept = copies[0].pk
    data = manifest(version)
    assert data["counts"]["duplicates_merged"] == 5
    assert "smallest conversation id is kept" in data["dedup_rule"]
    assert [item["id"] for item in data["examples"]].count(kept) == 1
    assert [(item["id"], item["duplicate_of"]) for item in data["duplicates_merged"]] == [
        (copy.pk, kept) for copy in copies[1:]
    ]
    merged = VersionExample.objects.filter(version=version, duplicate_of=kept)
    assert sorted(merged.values_list("conversation_id", flat=True)) == [c.pk for c in copies[1:]]
    assert not merged.filter(byte_offset__isnull=False).exists()
    assert VersionExample.objects.filter(version=version).in_files().count() == 5
    # The datasheet counts what was written: one of the six tagged copies.
    assert version.stats["pii"] == [
        {"entity_type": "ORGANIZATION", "redactions": 1, "conversations": 1}
    ]
    assert version.stats["duplicates_merged"] == 5
    # Four untouched examples keep their stored count (30); the kept copy is counted as exported.
    (kept_line,) = [
        line for line in files["train"] + files["validation"] if b"<ORGANIZATION_1>" in line
    ]
    kept_tokens = cookbook_tokens(json.loads(kept_line)["messages"])
    assert version.stats["tokens"]["total"] == 4 * 30 + kept_tokens == version.total_tokens
    assert sum(row["examples"] for row in version.stats["tokens"]["histogram"]) == 5


def test_a_reviewer_edit_that_makes_two_examples_identical_merges_them(dataset):
    first, second = ConversationFactory.create_batch(
        2, dataset=dataset, status=ConversationStatus.APPROVED
    )
    version = build(dataset, validation_fraction=0)
    assert version.duplicates_merged == 0 and version.examples == 2
    ConversationRevision.objects.create(
        conversation=second,
        message_index=1,
        before=second.original[1]["content"],
        after=first.original[1]["content"],
    )
    later = build(dataset, validation_fraction=0)
    assert (later.examples, later.duplicates_merged) == (1, 1)
    [removed] = list(iter_diff(version, later))
    assert (removed.conversation_id, removed.kind, removed.reason, removed.merged_into) == (
        second.pk,
        "removed",
        "merged",
        first.pk,
    )


def test_near_identical_exported_examples_share_a_split(dataset):
    pairs = []
    for number in range(40):
        text = f"How do I reset password number {number}?"
        pairs.append(
            ConversationFactory.create_batch(
                2,
                dataset=dataset,
                status=ConversationStatus.APPROVED,
                original=factory_pair(text),
            )
        )
    # The second of each pair differs only by case, spacing, punctuation and system prompt.
    for _, twin in pairs:
        twin.original = [
            {"role": "system", "content": "Another prompt."},
            {"role": "user", "content": twin.original[1]["content"].upper() + "  !"},
            twin.original[2],
        ]
        twin.save(update_fields=["original"])
    version = build(dataset, validation_fraction=0.5, seed=3)
    assert version.duplicates_merged == 0 and version.examples == 80
    splits = dict(version.members.values_list("conversation_id", "split"))
    assert all(splits[a.pk] == splits[b.pk] for a, b in pairs)
    assert {splits[a.pk] for a, _ in pairs} == {"train", "validation"}
    assert_duplicate_free_and_leak_free(version)


def factory_pair(text: str) -> list[dict]:
    return chat(user=text, assistant="Open settings and choose Reset.", system="Be helpful.")


def test_rebuild_is_byte_identical_and_merged_examples_keep_their_split(dataset):
    copies = [trained_by(dataset, company) for company in COMPANIES[:3]]
    ConversationFactory.create_batch(30, dataset=dataset, status=ConversationStatus.APPROVED)
    first = build(dataset, validation_fraction=0.3, seed=5)
    again = build(dataset, validation_fraction=0.3, seed=5)
    for name in ("train.jsonl", "validation.jsonl"):
        assert read(first, name) == read(again, name)
    # A later import of the same question (a larger id) does not move the group.
    trained_by(dataset, "Cohere")
    later = build(dataset, validation_fraction=0.3, seed=5)
    before = dict(first.members.values_list("conversation_id", "split"))
    after = dict(later.members.values_list("conversation_id", "split"))
    assert all(after[key] == split for key, split in before.items())
    assert later.duplicates_merged == 3 and after[copies[0].pk] == before[copies[0].pk]


def test_version_page_and_cli_say_how_many_were_merged(dataset, reviewer, client_for):
    for company in COMPANIES[:3]:
        trained_by(dataset, company)
    out = StringIO()
    call_command("snapshot", "--dataset", dataset.slug, "--json", stdout=out)
    summary = json.loads(out.getvalue().splitlines()[-1])
    assert (summary["examples"], summary["duplicates_merged"]) == (1, 2)
    page = client_for(reviewer).get(reverse("version_detail", args=[dataset.slug, 1]))
    assert b"2 duplicates merged" in page.content


def test_fastchat_demo_file_exports_no_duplicate_and_no_leak(dataset):
    path = REFERENCE / "fastchat_dummy_conversation_sharegpt.json"
    call_command("import_conversations", "--dataset", dataset.slug, str(path), stdout=StringIO())
    call_command("redact", "--dataset", dataset.slug, "--wait", stdout=StringIO())
    call_command(
        "review_bulk", "--dataset", dataset.slug, "--approve", "--where", "all", stdout=StringIO()
    )
    out = StringIO()
    call_command("snapshot", "--dataset", dataset.slug, "--json", stdout=out)
    version = DatasetVersion.objects.get(dataset=dataset)
    # Whether any copies remain to merge depends on the PII policy (names of companies such as
    # "OpenAI" and "Google" are no longer tagged, so those questions stay distinct); what must
    # hold either way is that every approved example is either exported or merged.
    assert (
        version.examples + version.duplicates_merged
        == dataset.conversations.filter(status=ConversationStatus.APPROVED).count()
    )
    assert_duplicate_free_and_leak_free(version)
    assert manifest(version)["counts"]["duplicates_merged"] == version.duplicates_merged


def test_examples_that_differ_only_in_a_tool_calls_arguments_are_not_near_duplicates():
    def asks(arguments: str) -> list[dict]:
        call = {"id": "c1", "type": "function"}
        call["function"] = {"name": "get_weather", "arguments": arguments}
        return [
            {"role": "user", "content": "What is the weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
        ]

    paris = near_duplicate_key(asks('{"city": "Paris"}'))
    assert paris != near_duplicate_key(asks('{"city": "Rome"}'))
    # Case, spacing and punctuation inside the arguments are ignored like anywhere else.
    assert paris == near_duplicate_key(asks('{"city":"PARIS"}'))
