"""What a version build exports: approved examples only, byte-identical and sorted lines, tools and weights, exact numbers, filters, refusals, retries, query counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from curation.models import (
    Conversation,
    ConversationStatus,
    DatasetVersion,
    PiiFinding,
    VersionExample,
    VersionStatus,
)
from curation.services.versions import build as build_module
from curation.services.versions.build import run_build_job
from curation.services.versions.files import (
    VersionError,
)
from curation.services.versions.preview import (
    create_version,
    normalize_filter,
)
from tests.curation.version_helpers import approved, build, lines, manifest, read, splits_of
from tests.factories import ConversationFactory, ImportBatchFactory, chat

pytestmark = pytest.mark.django_db


def test_only_approved_examples_are_exported(dataset):
    keep = approved(dataset, 3)
    ConversationFactory(dataset=dataset, status=ConversationStatus.IN_REVIEW)
    ConversationFactory(dataset=dataset, status=ConversationStatus.REJECTED)
    ConversationFactory(dataset=dataset, status=ConversationStatus.PENDING_PII)
    version = build(dataset, validation_fraction=0)
    assert sorted(splits_of(version)) == sorted(c.pk for c in keep)
    assert len(lines(version, "train.jsonl")) == 3 and read(version, "validation.jsonl") == b""


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
    with pytest.raises(VersionError, match="no approved example"):
        create_version(dataset=dataset, user=None, filter=normalize_filter(), enqueue=False)
    approved(dataset, 1, score_avg=2)
    with pytest.raises(VersionError, match="no approved example"):
        create_version(
            dataset=dataset, user=None, filter=normalize_filter(min_score=3), enqueue=False
        )
    assert not DatasetVersion.objects.exists()


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
