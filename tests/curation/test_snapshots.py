"""Dataset versions: what goes in, the files' bytes, splits, immutability, deletion, diffs, CLI.

Each invariant of DESIGN.md that snapshots carry has a test here: nothing un-redacted leaves
(1), a built version never changes and its sha256 is checked (2), a killed build retried
leaves nothing twice (3).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.urls import reverse

from curation.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    DatasetVersion,
    FindingDecision,
    FindingSource,
    ImmutableVersionError,
    PiiFinding,
    Review,
    TrainingPrice,
    VersionExample,
    VersionStatus,
    training_epochs,
)
from curation.services.imports import create_import_batch, run_import_job
from curation.services.pii import redacted_messages
from curation.services.versions import build as build_module
from curation.services.versions.build import run_build_job
from curation.services.versions.diff import diff_counts, iter_diff
from curation.services.versions.files import (
    SnapshotError,
    TamperedFileError,
    delete_version,
    storage_name,
    verify_file,
)
from curation.services.versions.preview import (
    create_version,
    normalize_filter,
    preview_version,
    system_prompt_tokens,
)
from curation.splits import split_of, validation_threshold
from tests.factories import ConversationFactory, ImportBatchFactory, chat

pytestmark = pytest.mark.django_db

PLANTED = {
    "email": "maria.gonzalez@example.org",
    "phone": "(415) 555-0134",
    "card": "4111 1111 1111 1111",
    "ssn": "123-45-6789",
}


def approved(dataset, count: int = 1, **fields):  # type: ignore[no-untyped-def]
    return ConversationFactory.create_batch(
        count, dataset=dataset, status=ConversationStatus.APPROVED, **fields
    )


def build(
    dataset, *, user=None, min_score=None, exclude_flags=(), batches=(), **options
) -> DatasetVersion:  # type: ignore[no-untyped-def]
    version = create_version(
        dataset=dataset,
        user=user,
        filter=normalize_filter(min_score=min_score, exclude_flags=exclude_flags, batches=batches),
        enqueue=False,
        **options,
    )
    run_build_job(version_id=version.pk)
    version = DatasetVersion.objects.select_related("dataset").get(pk=version.pk)
    assert version.status == VersionStatus.SUCCEEDED, version.error
    return version


def read(version: DatasetVersion, name: str) -> bytes:
    with default_storage.open(version.files[name]["name"], "rb") as handle:
        return handle.read()


def lines(version: DatasetVersion, name: str) -> list[dict]:
    return [json.loads(line) for line in read(version, name).splitlines()]


def manifest(version: DatasetVersion) -> dict:
    return json.loads(read(version, "manifest.json"))


def splits_of(version: DatasetVersion) -> dict[int, str]:
    return dict(
        VersionExample.objects.filter(version=version).values_list("conversation_id", "split")
    )


# -- invariant 1: nothing un-redacted leaves ----------------------------------------------


def planted_batch(dataset):  # type: ignore[no-untyped-def]
    rows = []
    for number in range(12):
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You are a bank's support assistant."},
                    {
                        "role": "user",
                        "content": f"Case {number}: mail me at {PLANTED['email']} or call {PLANTED['phone']}.",
                    },
                    {
                        "role": "assistant",
                        "content": f"Noted {PLANTED['email']}; I will call {PLANTED['phone']}.",
                    },
                ]
            }
        )
        rows.append(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": f"Case {number}: charge card {PLANTED['card']}, SSN {PLANTED['ssn']}.",
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {
                                    "name": "charge",
                                    "arguments": json.dumps(
                                        {"card": PLANTED["card"], "email": PLANTED["email"]}
                                    ),
                                },
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "charged"},
                    {
                        "role": "assistant",
                        "content": "Done; please never send card numbers in chat.",
                    },
                ]
            }
        )
    data = "\n".join(json.dumps(row) for row in rows).encode()
    batch = create_import_batch(
        dataset=dataset,
        uploaded=ContentFile(data, name="planted.jsonl"),
        original_name="planted.jsonl",
        fmt="auto",
        user=None,
        enqueue=False,
    )
    run_import_job(batch_id=batch.pk)
    return batch


def redact_planted(conversation: Conversation) -> int:
    """A redact finding over every occurrence of every planted value, as a reviewer would add."""
    from curation.pii.redaction import iter_text_fields

    findings = []
    for index, field, text in iter_text_fields(conversation.current_messages()):
        for kind, value in PLANTED.items():
            start = text.find(value)
            while start != -1:
                findings.append(
                    PiiFinding(
                        conversation=conversation,
                        message_index=index,
                        field=field,
                        start=start,
                        end=start + len(value),
                        entity_type=kind.upper(),
                        source=FindingSource.REVIEWER,
                        decision=FindingDecision.REDACT,
                    )
                )
                start = text.find(value, start + len(value))
    PiiFinding.objects.bulk_create(findings)
    return len(findings)


def test_no_planted_pii_in_any_exported_file(dataset, admin_user, client_for):
    planted_batch(dataset)
    conversations = list(Conversation.objects.filter(dataset=dataset).select_related("dataset"))
    assert len(conversations) == 24
    for conversation in conversations:
        assert redact_planted(conversation) > 0
        # A finding the reviewer decided to keep must not undo another's redaction.
    Conversation.objects.filter(dataset=dataset).update(status=ConversationStatus.APPROVED)

    version = build(dataset, validation_fraction=0.5)
    assert version.train_examples and version.validation_examples

    exported = {
        name: read(version, name) for name in ("train.jsonl", "validation.jsonl", "manifest.json")
    }
    zipped = client_for(admin_user).get(reverse("version_zip", args=[dataset.slug, version.number]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content)))
    exported.update({f"zip:{name}": archive.read(name) for name in archive.namelist()})
    for name, data in exported.items():
        # Both as written and with JSON escapes undone (a value could hide behind \u escapes).
        text = data.decode()
        decoded = text.encode().decode("unicode_escape")
        for kind, value in PLANTED.items():
            assert value not in text, (name, kind)
            assert value not in decoded, (name, kind)
    assert "<EMAIL" in exported["train.jsonl"].decode() + exported["validation.jsonl"].decode()


def test_each_line_is_exactly_the_redacted_conversation(dataset):
    planted_batch(dataset)
    for conversation in Conversation.objects.filter(dataset=dataset).select_related("dataset"):
        redact_planted(conversation)
    Conversation.objects.filter(dataset=dataset).update(status=ConversationStatus.APPROVED)
    version = build(dataset, validation_fraction=0.3)
    by_id = {}
    for name in ("train.jsonl", "validation.jsonl"):
        members = VersionExample.objects.filter(version=version, split=name.split(".")[0]).order_by(
            "conversation_id"
        )
        for member, line in zip(members, read(version, name).splitlines(), strict=True):
            by_id[member.conversation_id] = line
            assert hashlib.sha256(line).hexdigest() == member.content_hash
    for conversation in Conversation.objects.filter(dataset=dataset).select_related("dataset"):
        assert json.loads(by_id[conversation.pk])["messages"] == redacted_messages(conversation)


def test_only_approved_examples_are_exported(dataset):
    keep = approved(dataset, 3)
    ConversationFactory(dataset=dataset, status=ConversationStatus.IN_REVIEW)
    ConversationFactory(dataset=dataset, status=ConversationStatus.REJECTED)
    ConversationFactory(dataset=dataset, status=ConversationStatus.PENDING_PII)
    version = build(dataset, validation_fraction=0)
    assert sorted(splits_of(version)) == sorted(c.pk for c in keep)
    assert len(lines(version, "train.jsonl")) == 3 and read(version, "validation.jsonl") == b""


# -- reproducible files ---------------------------------------------------------------


def test_same_inputs_give_byte_identical_files(dataset):
    approved(dataset, 40)
    first = build(dataset, validation_fraction=0.25, seed=7)
    second = build(dataset, validation_fraction=0.25, seed=7)
    for name in ("train.jsonl", "validation.jsonl"):
        assert read(first, name) == read(second, name)
        assert first.files[name]["sha256"] == second.files[name]["sha256"]
        assert first.files[name]["name"] != second.files[name]["name"]
    assert manifest(first)["examples"] == manifest(second)["examples"]


def test_lines_are_sorted_by_id_and_compact_utf8(dataset):
    approved(dataset, 5, original=chat(user='Grüße, ça va? 東京 \u2028 \x01 "quoted" \\'))
    approved(
        dataset,
        1,
        tools=[
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"maximum": 2**70, "step": 0.1}},
            }
        ],
    )
    version = build(dataset, validation_fraction=0)
    data = read(version, "train.jsonl")
    for line in data.splitlines():
        assert (
            json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False).encode() == line
        )
    assert "东京".encode() not in data and "東京".encode() in data
    assert b"1180591620717411303424" in data  # a big integer, written exactly
    ids = list(
        VersionExample.objects.filter(version=version).values_list("conversation_id", flat=True)
    )
    assert ids == sorted(ids)
    assert (
        json.loads(data.splitlines()[0])["messages"][1]["content"]
        == 'Grüße, ça va? 東京 \u2028 \x01 "quoted" \\'
    )


# -- splits -------------------------------------------------------------------------------


def test_no_conversation_in_both_splits_and_near_duplicates_stay_together(dataset):
    singles = approved(dataset, 120)
    clustered = approved(dataset, 60)
    for number, conversation in enumerate(clustered):
        # 12 clusters of 5, each named by its first member's id.
        conversation.near_dup_cluster = clustered[number - number % 5].pk
        conversation.save(update_fields=["near_dup_cluster"])
    version = build(dataset, validation_fraction=0.5, seed=3)
    train_ids = {m["id"] for m in manifest(version)["examples"] if m["split"] == "train"}
    validation_ids = {m["id"] for m in manifest(version)["examples"] if m["split"] == "validation"}
    assert not train_ids & validation_ids
    assert train_ids | validation_ids == {c.pk for c in singles + clustered}
    assert len(lines(version, "train.jsonl")) == len(train_ids) == version.train_examples
    assert (
        len(lines(version, "validation.jsonl"))
        == len(validation_ids)
        == version.validation_examples
    )
    for start in range(0, 60, 5):
        members = {c.pk for c in clustered[start : start + 5]}
        assert members <= train_ids or members <= validation_ids
    # Clusters do split between train and validation as a whole (not all on one side).
    assert len({clustered[start].pk in train_ids for start in range(0, 60, 5)}) == 2


def test_a_conversation_keeps_its_split_in_later_versions(dataset):
    approved(dataset, 150)
    first = build(dataset, validation_fraction=0.2)
    approved(dataset, 100)
    Conversation.objects.filter(pk=min(splits_of(first))).update(status=ConversationStatus.REJECTED)
    second = build(dataset, validation_fraction=0.2)
    assert second.seed == first.seed  # the default seed follows the previous version
    before, after = splits_of(first), splits_of(second)
    common = set(before) & set(after)
    assert len(common) == 149
    assert all(before[i] == after[i] for i in common)
    # A larger fraction only moves examples from train to validation.
    third = build(dataset, validation_fraction=0.5)
    for conversation_id, split in splits_of(third).items():
        if after.get(conversation_id) == "validation":
            assert split == "validation"


def test_split_rule_is_the_documented_hash_and_sql_agrees(dataset):
    conversations = approved(dataset, 300)
    conversations[0].near_dup_cluster = conversations[1].pk
    conversations[0].save(update_fields=["near_dup_cluster"])
    for fraction, seed in ((0.1, 0), (0.37, 12345), (0.0, 5), (0.9, 99)):
        threshold = validation_threshold(fraction)
        expected = {
            c.pk: "validation"
            if int(
                hashlib.sha256(f"{seed}:{c.near_dup_cluster or c.pk}".encode()).hexdigest()[:15], 16
            )
            < fraction * 16**15
            else "train"
            for c in Conversation.objects.filter(dataset=dataset)
        }
        assert {
            c.pk: split_of(c.pk, c.near_dup_cluster, seed=seed, threshold=threshold)
            for c in Conversation.objects.filter(dataset=dataset)
        } == expected
        preview = preview_version(
            dataset=dataset, filter=normalize_filter(), validation_fraction=fraction, seed=seed
        )
        assert preview.validation == sum(1 for split in expected.values() if split == "validation")
    with pytest.raises(ValueError):
        validation_threshold(1.0)


# -- filters and preview ---------------------------------------------------------------


def test_filter_by_score_flags_and_batches(dataset):
    batch = ImportBatchFactory(dataset=dataset)
    other = ImportBatchFactory(dataset=dataset)
    good = approved(dataset, 2, score_avg=4.5, batch=batch)
    approved(dataset, 1, score_avg=2.0, batch=batch)
    approved(dataset, 1, score_avg=None, batch=batch)
    flagged = approved(dataset, 1, score_avg=4.8, batch=batch, flags=["short_assistant_reply"])
    approved(dataset, 1, score_avg=5.0, batch=other)
    version = build(
        dataset,
        min_score=4,
        exclude_flags=["short_assistant_reply"],
        batches=[batch.pk],
        validation_fraction=0,
    )
    assert set(splits_of(version)) == {c.pk for c in good}
    assert version.filter == {
        "status": "approved",
        "min_score": 4.0,
        "exclude_flags": ["short_assistant_reply"],
        "batches": [batch.pk],
    }
    everything = build(dataset, validation_fraction=0)
    assert flagged[0].pk in splits_of(everything) and everything.examples == 6


def test_nothing_to_freeze_is_refused_with_a_reason(dataset):
    ConversationFactory(dataset=dataset, status=ConversationStatus.IN_REVIEW)
    with pytest.raises(SnapshotError, match="no approved example"):
        create_version(dataset=dataset, user=None, filter=normalize_filter(), enqueue=False)
    approved(dataset, 1, score_avg=2)
    with pytest.raises(SnapshotError, match="no approved example"):
        create_version(
            dataset=dataset, user=None, filter=normalize_filter(min_score=3), enqueue=False
        )
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize(
    ("examples", "epochs"),
    [
        (0, 0),
        (1, 25),
        (10, 10),
        (33, 4),
        (34, 3),
        (5000, 3),
        (8333, 3),
        (8334, 2),
        (12_500, 2),
        (12_501, 1),
        (1_000_000, 1),
    ],
)
def test_epochs_follow_the_cookbook_heuristic(examples, epochs):
    assert training_epochs(examples) == epochs


def test_preview_counts_tokens_and_costs(dataset):
    dataset.system_prompt = "Be brief."
    dataset.save()
    approved(dataset, 8, token_count=1000, assistant_tokens=400)
    approved(dataset, 2, token_count=100_000, assistant_tokens=50_000, flags=["no_system_message"])
    assert (
        TrainingPrice.objects.seeded().filter(provider="openai").exists()
    )  # the settings' defaults
    TrainingPrice.objects.create(
        provider="acme", model="tiny", price_per_million="2.00", token_limit=2000
    )
    preview = preview_version(
        dataset=dataset, filter=normalize_filter(), validation_fraction=0, seed=0
    )
    prompt_tokens = system_prompt_tokens("Be brief.")
    assert prompt_tokens > 0 and preview.prompt_tokens == prompt_tokens and preview.prepended == 2
    assert (preview.examples, preview.train, preview.validation) == (10, 10, 0)
    assert preview.total_tokens == 8 * 1000 + 2 * (100_000 + prompt_tokens)
    assert preview.assistant_tokens == 8 * 400 + 2 * 50_000
    estimate = next(e for e in preview.estimates if e["price"].model == "tiny")
    # 10 examples: ceil(100 / 10) = 10 epochs; the long ones are billed at the 2000 limit.
    assert estimate["epochs"] == 10
    assert estimate["billed_tokens"] == 10 * (8 * 1000 + 2 * 2000)
    assert str(estimate["cost"]) == "0.24"


# -- file format ---------------------------------------------------------------------


def test_system_prompt_is_prepended_only_where_missing_and_documented(dataset):
    dataset.system_prompt = "You are Acme's support assistant."
    dataset.save()
    with_system = approved(dataset, 1, original=chat(system="Custom prompt."))[0]
    without = approved(dataset, 1, original=chat(system=None), flags=["no_system_message"])[0]
    version = build(dataset, validation_fraction=0)
    examples = {
        m["id"]: line
        for m, line in zip(
            manifest(version)["examples"], lines(version, "train.jsonl"), strict=True
        )
    }
    assert examples[with_system.pk]["messages"][0] == {
        "role": "system",
        "content": "Custom prompt.",
    }
    assert examples[without.pk]["messages"][0] == {
        "role": "system",
        "content": "You are Acme's support assistant.",
    }
    assert len(examples[without.pk]["messages"]) == 3
    described = manifest(version)["system_prompt"]
    assert described["prepend"] is True and described["examples_prepended"] == 1
    assert described["text"] == "You are Acme's support assistant." and "policy" in described
    plain = build(dataset, validation_fraction=0, prepend_system_prompt=False)
    assert lines(plain, "train.jsonl")[1]["messages"][0]["role"] == "user"
    assert manifest(plain)["system_prompt"]["prepend"] is False


def test_tools_parallel_tool_calls_and_weights_are_kept(dataset):
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    messages = [
        {"role": "user", "content": "Look it up"},
        {"role": "assistant", "content": "Wrong answer", "weight": 0},
        {"role": "user", "content": "Again"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "content": "It is 42.", "weight": 1},
    ]
    approved(dataset, 1, original=messages, tools=tools, parallel_tool_calls=False)
    approved(dataset, 1)
    version = build(dataset, validation_fraction=0)
    first, second = lines(version, "train.jsonl")
    assert first == {"messages": messages, "tools": tools, "parallel_tool_calls": False}
    assert set(second) == {"messages"}


def test_manifest_records_everything_needed_to_check_the_version(dataset, admin_user):
    dataset.pii_operator = "mask"
    dataset.pii_deny_list = ["ACME-SECRET"]
    dataset.save()
    conversations = approved(dataset, 30, token_count=50, assistant_tokens=20)
    version = build(dataset, user=admin_user, validation_fraction=0.2, seed=11, notes="first cut")
    data = manifest(version)
    assert data["dataset"] == {"id": dataset.pk, "slug": "support", "name": "Support"}
    assert (data["version"], data["created_by"], data["notes"], data["seed"]) == (
        1,
        "admin",
        "first cut",
        11,
    )
    assert data["filter"]["status"] == "approved" and data["validation_fraction"] == 0.2
    assert data["counts"] == {
        "examples": 30,
        "train": version.train_examples,
        "validation": version.validation_examples,
        "duplicates_merged": 0,
    }
    assert data["tokens"]["total"] == 1500 and data["tokens"]["assistant"] == 600
    assert data["redaction"]["pii_settings"]["operator"] == "mask"
    assert data["redaction"]["pii_settings"]["deny_list"] == ["ACME-SECRET"]
    assert data["redaction"]["function"] == "curation.services.pii.redacted_messages"
    for name in ("train.jsonl", "validation.jsonl"):
        raw = read(version, name)
        assert data["files"][name] == {
            "sha256": hashlib.sha256(raw).hexdigest(),
            "size": len(raw),
            "examples": len(raw.splitlines()),
        }
        assert version.files[name]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert (
        version.files["manifest.json"]["sha256"]
        == hashlib.sha256(read(version, "manifest.json")).hexdigest()
    )
    assert [m["id"] for m in data["examples"]] == sorted(c.pk for c in conversations)
    members = {
        m.conversation_id: (m.content_hash, m.split)
        for m in VersionExample.objects.filter(version=version)
    }
    assert {m["id"]: (m["sha256"], m["split"]) for m in data["examples"]} == members
    assert AuditEvent.objects.filter(
        action="version.create", object_id=str(version.pk), actor=admin_user
    ).exists()


def test_datasheet_figures_are_computed_at_build(dataset, reviewer, admin_user):
    conversations = approved(dataset, 4, score_avg=4.2, token_count=300)
    approved(dataset, 1, score_avg=None, token_count=5000)
    PiiFinding.objects.create(
        conversation=conversations[0], message_index=1, start=0, end=5, entity_type="PERSON"
    )
    PiiFinding.objects.create(
        conversation=conversations[0],
        message_index=1,
        start=6,
        end=8,
        entity_type="PERSON",
        decision=FindingDecision.KEEP,
    )
    PiiFinding.objects.create(
        conversation=conversations[1], message_index=1, start=0, end=3, entity_type="EMAIL_ADDRESS"
    )
    Review.objects.create(
        conversation=conversations[0],
        dataset=dataset,
        reviewer=reviewer,
        decision="approve",
        scores={"tone": 4},
    )
    Review.objects.create(
        conversation=conversations[1],
        dataset=dataset,
        reviewer=reviewer,
        decision="reject",
        scores={},
    )
    Review.objects.create(
        conversation=conversations[0],
        dataset=dataset,
        reviewer=admin_user,
        decision="approve",
        scores={},
    )
    version = build(dataset, validation_fraction=0)
    stats = version.stats
    assert stats["reviewers"] == [
        {"username": "reviewer", "reviews": 2, "approvals": 1},
        {"username": "admin", "reviews": 1, "approvals": 1},
    ]
    assert {row["entity_type"]: row["redactions"] for row in stats["pii"]} == {
        "PERSON": 1,
        "EMAIL_ADDRESS": 1,
    }
    assert stats["scores"]["unscored"] == 1
    assert {row["from"]: row["examples"] for row in stats["scores"]["histogram"]}[4.0] == 4
    histogram = {row["from"]: row["examples"] for row in stats["tokens"]["histogram"]}
    assert histogram[256] == 4 and histogram[4096] == 1
    assert stats["tokens"]["max_per_example"] == 5000


# -- invariant 2: immutable, checked -----------------------------------------------------


def test_a_built_version_cannot_be_changed(dataset):
    approved(dataset, 2)
    version = build(dataset)
    version.notes = "rewritten history"
    with pytest.raises(ImmutableVersionError):
        version.save()
    assert DatasetVersion.objects.get(pk=version.pk).notes == ""
    assert not version.retry()


def test_delete_removes_the_data_files_and_keeps_the_manifest(dataset, admin_user):
    approved(dataset, 10)
    version = build(dataset, validation_fraction=0.3)
    names = {name: info["name"] for name, info in version.files.items()}
    assert delete_version(version=version, user=admin_user)
    version.refresh_from_db()
    assert (
        version.status == VersionStatus.DELETED
        and version.deleted_by == admin_user
        and version.deleted_at
    )
    assert not default_storage.exists(names["train.jsonl"]) and not default_storage.exists(
        names["validation.jsonl"]
    )
    assert default_storage.exists(names["manifest.json"])
    assert manifest(version)["counts"]["examples"] == 10
    assert VersionExample.objects.filter(version=version).count() == 10
    assert [name for name, _ in version.available_files()] == ["manifest.json"]
    assert AuditEvent.objects.filter(
        action="version.delete", object_id=str(version.pk), actor=admin_user
    ).exists()
    assert not delete_version(version=version, user=admin_user)  # once only


def test_a_changed_file_is_detected(dataset):
    approved(dataset, 3)
    version = build(dataset, validation_fraction=0)
    verify_file(version, "train.jsonl")
    path = default_storage.path(version.files["train.jsonl"]["name"])
    with open(path, "r+b") as handle:
        handle.write(b"X")
    with pytest.raises(TamperedFileError, match="does not match its recorded sha256"):
        verify_file(version, "train.jsonl")


# -- invariant 3: a retried build duplicates nothing ----------------------------------------


def test_a_failed_build_retried_builds_once(dataset, monkeypatch):
    approved(dataset, 2500)  # more than one chunk
    version = create_version(
        dataset=dataset,
        user=None,
        filter=normalize_filter(),
        enqueue=False,
        validation_fraction=0.1,
    )
    calls = {"n": 0}
    real = build_module.copy_members

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        raise RuntimeError("worker killed\nsecond line")

    monkeypatch.setattr(build_module, "copy_members", crash)
    with pytest.raises(RuntimeError):
        run_build_job(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED
    assert "RuntimeError: worker killed" in version.error and "\n" not in version.error
    assert not VersionExample.objects.filter(version=version).exists()

    monkeypatch.setattr(build_module, "copy_members", real)
    monkeypatch.setattr(DatasetVersion, "enqueue", lambda self: None)
    assert version.retry()
    run_build_job(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == VersionStatus.SUCCEEDED and version.attempts == 2
    assert VersionExample.objects.filter(version=version).count() == 2500 == version.examples
    folder = Path(default_storage.path(version.files["train.jsonl"]["name"])).parent
    assert sorted(path.name for path in folder.iterdir()) == [
        "manifest.json",
        "train.jsonl",
        "validation.jsonl",
    ]
    assert run_build_job(version_id=version.pk) is None  # a duplicate message does nothing


# -- diffs ------------------------------------------------------------------------------


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


# -- command line ------------------------------------------------------------------------


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


def test_queries_per_build_do_not_grow_with_the_examples(dataset):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from curation.models import ConversationRevision

    def queries_for(count: int) -> int:
        Conversation.objects.filter(dataset=dataset).delete()
        conversations = approved(dataset, count)
        for conversation in conversations:
            PiiFinding.objects.create(
                conversation=conversation, message_index=1, start=0, end=8, entity_type="PERSON"
            )
            ConversationRevision.objects.create(
                conversation=conversation, message_index=2, before="x", after="Edited reply."
            )
        with CaptureQueriesContext(connection) as captured:
            build(dataset, validation_fraction=0.5)
        return len(captured)

    # Both sizes fit one chunk: the same queries whatever the number of examples.
    assert queries_for(20) == queries_for(200)


def test_reviewer_edits_are_exported_and_redacted(dataset):
    from curation.models import ConversationRevision

    conversation = approved(dataset, 1)[0]
    ConversationRevision.objects.create(
        conversation=conversation,
        message_index=2,
        before="Hi! How can I help?",
        after="Write to help@acme.test, Sam.",
    )
    PiiFinding.objects.create(
        conversation=conversation, message_index=2, start=9, end=23, entity_type="EMAIL_ADDRESS"
    )
    version = build(dataset, validation_fraction=0)
    [line] = lines(version, "train.jsonl")
    assert line["messages"][2]["content"].startswith("Write to <EMAIL_ADDRESS")
    assert "help@acme.test" not in read(version, "train.jsonl").decode()


def test_a_finding_that_does_not_fit_fails_the_build_closed(dataset):
    _, bad = approved(dataset, 2)
    PiiFinding.objects.create(
        conversation=bad, message_index=1, start=5, end=500, entity_type="PERSON"
    )
    version = create_version(dataset=dataset, user=None, filter=normalize_filter(), enqueue=False)
    run_build_job(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED
    assert f"conversation {bad.pk} cannot be redacted" in version.error
    assert version.files == {} and not VersionExample.objects.filter(version=version).exists()
    assert not default_storage.exists(storage_name(version, "train.jsonl"))


def test_numbers_beyond_64_bits_are_exported_exactly(dataset):
    conversation = approved(dataset, 1)[0]
    big = 123456789012345678901234567890
    Conversation.objects.filter(pk=conversation.pk).update(
        original=[*conversation.original, {"role": "user", "content": "x", "weight": big}],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"maximum": 2**70}}}],
    )
    version = build(dataset, validation_fraction=0)
    text = read(version, "train.jsonl")
    assert str(big).encode() in text and str(2**70).encode() in text
