"""Large JSON Lines files are parsed by a pool of processes with exactly the result of the
serial path: same conversations, counts, errors and line numbers, and resumable."""

from __future__ import annotations

import gzip
import json

import pytest

from curation.models import Conversation
from curation.services import imports as import_service
from tests.curation.import_helpers import import_file

pytestmark = pytest.mark.django_db


def sample_file(path, n: int = 300) -> None:  # type: ignore[no-untyped-def]
    rows: list[bytes] = []
    for i in range(n):
        if i % 37 == 5:
            rows.append(b"{broken json")
        elif i % 41 == 7:
            rows.append(
                json.dumps({"messages": [{"role": "user", "content": "x" * 3000}]}).encode()
            )
        elif i % 53 == 9:
            rows.append(b"")
        else:
            rows.append(
                json.dumps(
                    {
                        "messages": [
                            {"role": "system", "content": "Be brief."},
                            {"role": "user", "content": f"Question {i % 250}"},
                            {"role": "assistant", "content": f"Answer {i % 250}", "weight": 1},
                        ],
                        "id": i,
                    }
                ).encode()
            )
    path.write_bytes(gzip.compress(b"\n".join(rows) + b"\n"))


def snapshot(batch):  # type: ignore[no-untyped-def]
    conversations = sorted(
        Conversation.objects.filter(batch=batch).values_list(
            "source_line", "content_hash", "token_count", "assistant_tokens", "flags", "metadata"
        )
    )
    errors = sorted(batch.line_errors.values_list("line", "field", "reason"))
    counts = (batch.read, batch.imported, batch.duplicates, batch.invalid, batch.warnings)
    return conversations, errors, counts, batch.unmapped_fields, batch.outcome


def test_the_parallel_path_gives_exactly_the_serial_result(dataset, settings, tmp_path):
    from tests.factories import DatasetFactory

    settings.CURATOR_MAX_LINE_BYTES = 2000
    settings.CURATOR_IMPORT_BATCH_SIZE = 17
    path = tmp_path / "chats.jsonl.gz"
    sample_file(path)
    settings.CURATOR_IMPORT_PROCESSES = 1
    serial = import_file(dataset, path)
    settings.CURATOR_IMPORT_PROCESSES = 2
    settings.CURATOR_IMPORT_PARALLEL_MIN_BYTES = 0
    calls: list[int] = []
    real = import_service.parsing_pool

    def spy(*args):  # type: ignore[no-untyped-def]
        pool = real(*args)
        calls.append(pool is not None)
        return pool

    import_service.parsing_pool = spy  # type: ignore[assignment]
    try:
        parallel = import_file(DatasetFactory(slug="other"), path)
    finally:
        import_service.parsing_pool = real  # type: ignore[assignment]
    assert calls == [True]
    assert snapshot(parallel) == snapshot(serial)
    assert serial.invalid > 5 and serial.duplicates > 10


class WorkerKilled(BaseException):
    pass


def test_a_parallel_import_killed_half_way_resumes_without_duplicates(
    dataset, settings, tmp_path, monkeypatch
):
    from django.utils import timezone

    from curation.models import ImportBatch, JobStatus

    settings.CURATOR_MAX_LINE_BYTES = 2000
    settings.CURATOR_IMPORT_BATCH_SIZE = 20
    settings.CURATOR_IMPORT_PROCESSES = 2
    settings.CURATOR_IMPORT_PARALLEL_MIN_BYTES = 0
    path = tmp_path / "chats.jsonl.gz"
    sample_file(path)
    real_write = import_service._write_chunk
    calls = {"n": 0}

    def dying_write(batch, prepared, writes):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:
            raise WorkerKilled
        return real_write(batch, prepared, writes)

    monkeypatch.setattr(import_service, "_write_chunk", dying_write)
    with pytest.raises(WorkerKilled):
        import_file(dataset, path)
    batch = ImportBatch.objects.get()
    assert batch.read == 80
    monkeypatch.setattr(import_service, "_write_chunk", real_write)
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=JobStatus.QUEUED, heartbeat_at=timezone.now()
    )
    import_service.run_import_job(batch_id=batch.pk)
    batch.refresh_from_db()
    settings.CURATOR_IMPORT_PROCESSES = 1
    from tests.factories import DatasetFactory

    serial = import_file(DatasetFactory(slug="serial"), path)
    assert snapshot(batch)[1:] == snapshot(serial)[1:]
    assert [c[:4] for c in snapshot(batch)[0]] == [c[:4] for c in snapshot(serial)[0]]


def test_a_conversation_another_import_inserted_meanwhile_is_counted_a_duplicate(dataset, tmp_path):
    """The hash lookup and the COPY are two statements: when the dataset gains one of the
    chunk's hashes in between, the chunk falls back to ON CONFLICT DO NOTHING."""
    from curation.importers import SourceRecord
    from curation.services.import_chunks import ChunkContext, prepare_chunk
    from curation.services.imports import _insert_rows, _Writes
    from curation.validation import normalize_openai
    from tests.factories import ImportBatchFactory

    batch = ImportBatchFactory(dataset=dataset)
    context = ChunkContext(
        dataset_id=dataset.pk, batch_id=batch.pk, token_limit=dataset.token_limit, fmt="openai"
    )
    records = [
        SourceRecord(
            line=n,
            normalized=normalize_openai(
                {
                    "messages": [
                        {"role": "user", "content": f"Q{n}"},
                        {"role": "assistant", "content": f"A{n}"},
                    ]
                }
            ),
        )
        for n in range(1, 4)
    ]
    first = prepare_chunk(context, records[:1], done=None)
    writes = _Writes(probe=True, wait_for_disk=True)
    assert _insert_rows(dataset.pk, first, writes) == (1, 1)
    prepared = prepare_chunk(context, records, done=None)
    # As if the lookup ran before the other import committed: it finds nothing.
    prepared.hashes = ["0" * 64] * len(prepared.hashes)
    assert _insert_rows(dataset.pk, prepared, writes) == (2, 2)
    assert Conversation.objects.filter(dataset=dataset).count() == 3
