"""A large version is exported by several processes over id ranges and concatenated in order:
its files are byte for byte those of a serial build."""

from __future__ import annotations

import itertools

import pytest
from django.core.files.storage import default_storage

from curation.models import (
    Conversation,
    ConversationRevision,
    ConversationStatus,
    DatasetVersion,
    PiiFinding,
    VersionStatus,
)
from curation.services.versions import build as build_module
from curation.services.versions.preview import create_version, normalize_filter, select_examples
from tests.factories import chat

pytestmark = pytest.mark.django_db(transaction=True)


def populate(dataset, count: int) -> None:  # type: ignore[no-untyped-def]
    Conversation.objects.bulk_create(
        Conversation(
            dataset=dataset,
            status=ConversationStatus.APPROVED,
            # Every 50th repeats an earlier question: duplicates across the id ranges.
            original=chat(user=f"Question {n % 50 if n % 50 == 0 else n}, from Ann Lee?"),
            content_hash=f"{n:064x}",
            message_count=3,
            token_count=30 + n % 7,
            assistant_tokens=8,
            near_dup_cluster=None,
        )
        for n in range(count)
    )
    ids = list(dataset.conversations.order_by("id").values_list("id", flat=True))
    findings = []
    for pk, (original,) in zip(
        ids[::7], dataset.conversations.order_by("id").values_list("original")[::7], strict=True
    ):
        start = original[1]["content"].index("Ann Lee")
        findings.append(
            PiiFinding(
                conversation_id=pk,
                message_index=1,
                start=start,
                end=start + 7,
                entity_type="PERSON",
            )
        )
    PiiFinding.objects.bulk_create(findings)
    for pk in ids[::301]:
        ConversationRevision.objects.create(
            conversation_id=pk, message_index=2, before="Hi! How can I help?", after="Edited."
        )
    Conversation.objects.filter(pk__in=ids[5::97]).update(near_dup_cluster=ids[5])


def build(dataset, processes: int) -> DatasetVersion:  # type: ignore[no-untyped-def]
    version = create_version(
        dataset=dataset,
        user=None,
        filter=normalize_filter(),
        enqueue=False,
        validation_fraction=0.2,
        seed=1,
    )
    assert version.claim()
    build_module.build_version(version=version, processes=processes)
    version = DatasetVersion.objects.get(pk=version.pk)
    assert version.status == VersionStatus.SUCCEEDED, version.error
    return version


def read(version: DatasetVersion, name: str) -> bytes:
    with default_storage.open(version.files[name]["name"], "rb") as handle:
        return handle.read()


def test_a_parallel_build_writes_the_bytes_of_a_serial_build(dataset, settings, tmp_path):
    settings.CURATOR_BUILD_PARALLEL_MIN = 0
    populate(dataset, 6500)
    parts = build_module.plan_parts(
        select_examples(dataset=dataset, filter=normalize_filter()),
        total=6500,
        processes=3,
        folder=str(tmp_path),
    )
    assert len(parts) == 3 and parts[0].first_id == 0
    assert all(a.last_id + 1 == b.first_id for a, b in itertools.pairwise(parts))
    serial = build(dataset, processes=1)
    parallel = build(dataset, processes=3)
    for name in ("train.jsonl", "validation.jsonl"):
        assert read(parallel, name) == read(serial, name)
        assert parallel.files[name]["sha256"] == serial.files[name]["sha256"]
    assert parallel.duplicates_merged == serial.duplicates_merged > 0
    assert (parallel.done, parallel.total) == (6500, 6500)

    def members(version: DatasetVersion) -> list[tuple]:
        return list(
            version.members.order_by("conversation_id").values_list(
                "conversation_id", "content_hash", "split", "duplicate_of", "byte_offset"
            )
        )

    assert members(parallel) == members(serial)
    assert serial.stats == parallel.stats


@pytest.mark.worker
def test_an_rq_worker_builds_in_parallel_processes(dataset, monkeypatch, run_worker, settings):
    populate(dataset, 4500)
    serial = build(dataset, processes=1)
    monkeypatch.setenv("CURATOR_BUILD_PARALLEL_MIN", "0")
    monkeypatch.setenv("CURATOR_BUILD_PROCESSES", "3")
    version = create_version(
        dataset=dataset, user=None, filter=normalize_filter(), validation_fraction=0.2, seed=1
    )
    run_worker("default")
    version.refresh_from_db()
    assert version.status == VersionStatus.SUCCEEDED, version.error
    for name in ("train.jsonl", "validation.jsonl"):
        assert version.files[name]["sha256"] == serial.files[name]["sha256"]
