"""Preference files (DPO pairs, KTO labels) import with their pairs, detected automatically,
with per-line errors like other formats."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from curation.models import Conversation, LabelledReply, PairChoice, PairSource, PreferencePair
from tests.conftest import DATA
from tests.curation.import_helpers import errors_by_line, import_file

pytestmark = pytest.mark.django_db
PREF = DATA / "preference"


def pair_of(batch, line: int) -> PreferencePair:  # type: ignore[no-untyped-def]
    return PreferencePair.objects.get(conversation__batch=batch, conversation__source_line=line)


def test_openai_preference_file_imports_prompt_chosen_and_rejected_with_tools(dataset):
    batch = import_file(dataset, PREF / "openai_preference.jsonl")
    assert batch.detected_format == "preference"
    assert (batch.read, batch.imported, batch.invalid) == (4, 3, 1)
    first = pair_of(batch, 1)
    assert first.conversation.original == [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "What is the boiling point of water at sea level?"},
        {"role": "assistant", "content": "100 °C (212 °F)."},
    ]
    assert first.reply_start == 2
    assert first.alternative == [{"role": "assistant", "content": "Around 50 degrees."}]
    assert (first.choice, first.source) == (PairChoice.A, PairSource.IMPORTED)
    tooled = pair_of(batch, 2)
    assert tooled.conversation.tools[0]["function"]["name"] == "get_weather"
    assert tooled.conversation.original[-1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert errors_by_line(batch)[4] == (
        "preferred_output[0].role",
        "a reply starts with an assistant message, not 'user'",
    )


def test_llamafactory_sharegpt_pairs_keep_history_and_system(dataset):
    batch = import_file(dataset, PREF / "llamafactory_dpo.json")
    assert (batch.imported, batch.invalid) == (2, 1)
    second = pair_of(batch, 2)  # items of a JSON array are numbered 1, 2, 3
    prompt = second.conversation.original[: second.reply_start]
    assert prompt[0] == {"role": "system", "content": "You are a translator."}
    assert prompt[-1] == {"role": "user", "content": "And into German?"}
    assert second.conversation.original[-1]["content"] == "Danke."
    assert second.alternative == [{"role": "assistant", "content": "Gracias."}]
    field, reason = errors_by_line(batch)[3]
    assert field == "chosen.from" and "unknown role 'robot'" in reason


def test_trl_and_argilla_prompt_chosen_rejected_as_strings_and_lists(dataset):
    batch = import_file(dataset, PREF / "trl_preference.jsonl")
    assert (batch.imported, batch.invalid) == (4, 1)
    assert pair_of(batch, 1).conversation.original == [
        {"role": "user", "content": "The capital of Italy is"},
        {"role": "assistant", "content": " Rome."},
    ]
    argilla = pair_of(batch, 3)
    # The prompt repeated at the start of each reply is the prompt once.
    assert [m["role"] for m in argilla.conversation.original] == ["user", "assistant"]
    assert argilla.alternative == [{"role": "assistant", "content": "Yes."}]
    assert argilla.conversation.metadata == {"source": "argilla"}
    implicit = pair_of(batch, 4)
    assert implicit.reply_start == 1 and implicit.alternative[0]["content"] == "Purple."
    assert errors_by_line(batch)[5] == ("chosen", "chosen is empty")


def test_hh_rlhf_transcripts_share_their_prefix_as_the_prompt(dataset):
    batch = import_file(dataset, PREF / "hh_rlhf.jsonl")
    assert (batch.imported, batch.invalid) == (2, 1)
    first = pair_of(batch, 1)
    assert [m["role"] for m in first.conversation.original] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert first.reply_start == 3
    assert first.conversation.original[3]["content"].startswith("About six minutes")
    assert first.alternative == [{"role": "assistant", "content": "Eggs cannot be soft."}]
    assert errors_by_line(batch)[3][0] == "rejected"
    assert "HH-RLHF transcript" in errors_by_line(batch)[3][1]


def test_kto_labels_are_kept_as_labelled_replies(dataset):
    batch = import_file(dataset, PREF / "llamafactory_kto.json")
    assert (batch.imported, batch.invalid) == (3, 1)
    labels = {
        reply.conversation.original[-1]["content"]: reply.label
        for reply in LabelledReply.objects.filter(conversation__batch=batch)
    }
    assert labels == {"Joyful.": True, "Sad.": False, "tac": True}
    assert errors_by_line(batch)[4] == ("kto_tag", "kto_tag must be true or false, got a string")
    trl = import_file(dataset, PREF / "trl_kto.jsonl")
    assert trl.imported == 3
    assert LabelledReply.objects.filter(conversation__batch=trl, label=False).count() == 1


def test_same_prompt_with_different_pairs_are_different_examples_and_same_pair_is_a_duplicate(
    dataset,
):
    first = import_file(dataset, PREF / "openai_preference.jsonl")
    again = import_file(dataset, PREF / "openai_preference.jsonl")
    assert (again.imported, again.duplicates) == (0, 3)
    assert PreferencePair.objects.filter(conversation__dataset=dataset).count() == 3
    # Same prompt and chosen reply as line 1's conversation but another rejected reply.
    variant = json.loads((PREF / "openai_preference.jsonl").read_text().splitlines()[0])
    variant["non_preferred_output"] = [{"role": "assistant", "content": "It never boils."}]
    path = PREF.parent.parent / "tmp_variant.jsonl"
    try:
        path.write_text(json.dumps(variant) + "\n")
        third = import_file(dataset, path)
    finally:
        path.unlink()
    assert third.imported == 1
    assert first.imported == 3


def test_an_explicit_chat_format_still_imports_the_pairs(dataset):
    batch = import_file(dataset, DATA / "dpo_sharegpt.json", fmt="sharegpt")
    assert batch.imported == 2
    assert PreferencePair.objects.filter(conversation__batch=batch).count() == 2


def test_cli_json_counts_pairs_and_labelled_replies(dataset, capsys):
    call_command(
        "import_conversations",
        "--dataset",
        dataset.slug,
        "--json",
        str(PREF / "llamafactory_dpo.json"),
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (last["imported"], last["pairs"], last["labelled"], last["invalid"]) == (2, 2, 0, 1)
    call_command(
        "import_conversations", "--dataset", dataset.slug, "--json", str(PREF / "trl_kto.jsonl")
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (last["pairs"], last["labelled"]) == (0, 3)
    assert Conversation.objects.filter(dataset=dataset).count() == 5


def test_the_import_page_counts_pairs(dataset, admin_user, client_for):
    from django.urls import reverse

    batch = import_file(dataset, PREF / "openai_preference.jsonl")
    page = client_for(admin_user).get(reverse("import_detail", args=[dataset.slug, batch.pk]))
    html = page.content.decode()
    assert "Preference pairs</dt><dd>3</dd>" in html
