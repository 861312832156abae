"""`manage.py snapshot`: builds and prints the contract, or fails with a one-line reason; diffs between versions."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management import CommandError, call_command

from curation.models import (
    Conversation,
    ConversationStatus,
    DatasetVersion,
    PiiFinding,
)
from curation.services.versions.diff import diff_counts, iter_diff
from tests.curation.version_helpers import approved, build

pytestmark = pytest.mark.django_db


def test_cli_builds_and_prints_the_contract(dataset, capsys):
    approved(dataset, 20)
    call_command(
        "snapshot",
        "--dataset",
        "support",
        "--validation-fraction",
        "0.25",
        "--seed",
        "4",
        "--notes",
        "cli",
        "--json",
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    version = DatasetVersion.objects.get(dataset=dataset, number=1)
    assert result["version"] == 1 and result["examples"] == 20
    assert (
        result["train"] + result["validation"] == 20
        and result["validation"] == version.validation_examples
    )
    assert set(result["files"]) == {"train.jsonl", "validation.jsonl", "manifest.json"}
    for name, info in result["files"].items():
        with open(info["path"], "rb") as handle:
            assert (
                hashlib.sha256(handle.read()).hexdigest()
                == info["sha256"]
                == version.files[name]["sha256"]
            )
    assert version.seed == 4 and version.notes == "cli" and version.validation_fraction == 0.25


def test_cli_fails_with_a_one_line_reason(dataset):
    with pytest.raises(CommandError) as error:
        call_command("snapshot", "--dataset", "support", "--json")
    assert "no approved example" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(CommandError, match="no dataset 'nope'"):
        call_command("snapshot", "--dataset", "nope")
    approved(dataset, 1)
    with pytest.raises(CommandError, match="validation fraction"):
        call_command("snapshot", "--dataset", "support", "--validation-fraction", "1.5")


def test_diff_lists_added_removed_and_changed_examples(dataset):
    kept, edited, dropped = approved(dataset, 3)
    first = build(dataset, validation_fraction=0)
    added = approved(dataset, 1)[0]
    Conversation.objects.filter(pk=dropped.pk).update(status=ConversationStatus.REJECTED)
    PiiFinding.objects.create(
        conversation=edited, message_index=1, start=0, end=8, entity_type="PERSON"
    )
    second = build(dataset, validation_fraction=0)
    entries = {entry.conversation_id: entry for entry in iter_diff(first, second)}
    assert set(entries) == {edited.pk, dropped.pk, added.pk}
    assert entries[added.pk].kind == "added" and entries[added.pk].before is None
    assert entries[dropped.pk].kind == "removed" and entries[dropped.pk].after is None
    assert entries[dropped.pk].reason == "rejected"
    assert entries[edited.pk].kind == "edited"
    assert entries[edited.pk].before["sha256"] != entries[edited.pk].after["sha256"]
    counts = diff_counts(first, second)
    assert (counts["added"], counts["removed"], counts["changed"], counts["unchanged"]) == (
        1,
        1,
        1,
        1,
    )
    assert second.parent_id == first.pk
    moved = build(dataset, validation_fraction=0.99)
    assert diff_counts(second, moved)["changed_split"] == moved.validation_examples > 0
    assert kept.pk not in entries
