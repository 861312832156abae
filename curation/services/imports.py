"""Import workflow: uploaded file → validated, deduplicated, token-counted conversations.

Each chunk of records is one transaction that inserts its conversations, records its bad
lines and advances the batch's counters together. The counters double as the checkpoint:
a retry after a killed worker skips the records already accounted for and carries on, so
nothing is imported twice and nothing is lost.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from itertools import chain, islice
from typing import Any

import psycopg
from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection, transaction

from curation.importers import (
    ImportFileError,
    Limits,
    SourceRecord,
    check_supported,
    detect_format,
    is_json_array,
    open_binary,
)
from curation.models import (
    AuditEvent,
    Conversation,
    Dataset,
    ImportBatch,
    ImportLineError,
    ImportOutcome,
    QualityRun,
)
from curation.models.jobs import unexpected_error
from curation.services.import_chunks import (
    ChunkContext,
    PreparedChunk,
    chunks_of,
    parsing_pool,
    prepare_chunk,
    prepared_chunks,
)
from curation.services.import_counts import (
    OTHER_REASONS,
    count_reasons,
    merge_counts,
)
from curation.services.pii.runs import start_detection
from curation.services.preference_imports import insert_preferences
from curation.storage import open_stream

logger = logging.getLogger(__name__)

STAGE_COLUMNS = (
    "dataset_id",
    "batch_id",
    "source_line",
    "original",
    "tools",
    "parallel_tool_calls",
    "content_hash",
    "status",
    "message_count",
    "token_count",
    "assistant_tokens",
    "flags",
    "metadata",
    "review_count",
    "created_at",
    "updated_at",
)


def create_import_batch(
    *,
    dataset: Dataset,
    uploaded: File,
    original_name: str,
    fmt: str,
    user: Any,
    enqueue: bool = True,
) -> ImportBatch:
    """Store the upload (kept for retries and audit) and queue its import."""
    digest = hashlib.sha256()
    for chunk in uploaded.chunks():
        digest.update(chunk)
    uploaded.seek(0)
    batch = ImportBatch(
        dataset=dataset,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        original_name=original_name[:255],
        format=fmt,
        size=uploaded.size or 0,
        sha256=digest.hexdigest(),
    )
    with transaction.atomic():
        batch.file.save(original_name, uploaded, save=False)
        batch.save()
        AuditEvent.record(
            actor=user,
            action="import.upload",
            obj=batch,
            dataset=dataset,
            file=original_name,
            size=batch.size,
            sha256=batch.sha256,
        )
        if enqueue:
            batch.enqueue()
    return batch


def import_limits() -> Limits:
    return Limits(
        line_bytes=settings.CURATOR_MAX_LINE_BYTES,
        file_bytes=settings.CURATOR_IMPORT_MAX_FILE_BYTES,
    )


def import_batch(*, batch: ImportBatch) -> ImportBatch:
    """Run (or resume) the import of a claimed batch. Raises ImportFileError for a bad file."""
    # Read through storage (local disk or S3), never a local .path: workers need no shared disk.
    assert batch.file.name, "a batch is created with its file"
    path = partial(open_stream, batch.file.name)
    limits = import_limits()
    fmt = batch.detected_format or (batch.format if batch.format != "auto" else "")
    if not fmt:
        fmt = detect_format(path, original_name=batch.original_name, limits=limits)
        batch.beat(detected_format=fmt)
    elif not batch.read:
        preference = check_supported(path, limits=limits)
        if preference:
            fmt = preference
            batch.beat(detected_format=fmt)
    dataset = batch.dataset
    batch.beat(total=batch.size or None)
    context = ChunkContext(
        dataset_id=dataset.pk, batch_id=batch.pk, token_limit=dataset.token_limit, fmt=fmt
    )
    # Progress is bytes of the stored file read so far (compressed bytes for .gz).
    stream, counter = open_binary(path)
    with stream:
        if is_json_array(stream, fmt) and batch.numbered_by != "item":
            batch.beat(numbered_by="item")
        pool = parsing_pool(stream, fmt, batch.size)
        try:
            chunks = prepared_chunks(
                stream, counter, context, limits=limits, skip=batch.read, pool=pool
            )
            # The first chunk is written on this thread: a file of one chunk (a small CLI
            # import) then needs no writer thread and no second database connection.
            first = next(chunks, None)
            # The batch's end is committed as usual, flushing every chunk's WAL before it
            # reaches the disk: its chunks need not wait for the disk one by one.
            writes = _Writes.for_batch(batch, wait_for_disk=False)
            if first is not None:
                _write_chunk(batch, first, writes)
            # The pool has forked by now, before the writer thread exists: forking a threaded
            # process is unsafe.
            second = next(chunks, None)
            if second is not None:
                with _ChunkWriter(batch, writes) as writer:
                    writer.put(second)
                    for prepared in chunks:
                        writer.put(prepared)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    batch.succeed(done=batch.total or batch.done, outcome=batch.final_outcome())
    return batch


def import_records(*, batch: ImportBatch, records: Iterable[SourceRecord]) -> ImportBatch:
    """Write already-read records into a claimed batch exactly as a file import does (the
    ingest API's entry: same dedup, token counts, flags, bad-record errors, counters)."""
    context = ChunkContext(
        dataset_id=batch.dataset_id,
        batch_id=batch.pk,
        token_limit=batch.dataset.token_limit,
        fmt=batch.detected_format or "openai",
    )
    chunks = chunks_of(
        records,
        size=settings.CURATOR_IMPORT_BATCH_SIZE,
        max_bytes=settings.CURATOR_IMPORT_CHUNK_BYTES,
    )
    head = list(islice(chunks, 2))
    # The caller answers once this returns: every chunk's commit waits for the disk.
    writes = _Writes.for_batch(batch, wait_for_disk=True)
    if len(head) == 1:
        # One chunk: nothing to overlap, so no writer thread and second connection.
        _write_chunk(batch, prepare_chunk(context, head[0], done=None), writes)
        return batch
    with _ChunkWriter(batch, writes) as writer:
        for chunk in chain(head, chunks):
            writer.put(prepare_chunk(context, chunk, done=None))
    return batch


@dataclass
class _Writes:
    """How a batch's chunks are written.

    `probe`: look up the chunk's hashes in the dataset before the COPY. Off while the dataset
    held nothing when the batch started and no COPY of the batch has met a duplicate: a
    fresh dataset then pays no lookup per row (a third of the COPY's own time, measured at
    2,000 hashes a chunk), and the first duplicate (a repeated line across chunks, another
    import of the same dataset) sends that chunk through the staging table and turns the
    lookups on for the rest of the batch.

    `wait_for_disk`: False lets each chunk's commit return before its WAL is flushed
    (SET LOCAL synchronous_commit TO OFF, only when the chunk's transaction is the outermost).
    An asynchronous commit is never half-applied: after a crash of the database server the
    last chunks may be lost, rows and counters together, and a retry resumes from the
    counters. Only for a file import, whose end (the batch marked finished, an ordinary
    commit) flushes every chunk before it; never for a caller that answers when this returns.
    """

    probe: bool
    wait_for_disk: bool

    @classmethod
    def for_batch(cls, batch: ImportBatch, *, wait_for_disk: bool) -> _Writes:
        # In a savepoint when nested, as every chunk is: a failure here (a lock timeout)
        # leaves the caller's transaction usable for marking the batch failed.
        with transaction.atomic():
            held = Conversation.objects.filter(dataset_id=batch.dataset_id).exists()
        return cls(probe=held, wait_for_disk=wait_for_disk)


def _write_chunk(batch: ImportBatch, prepared: PreparedChunk, writes: _Writes) -> None:
    """The database half: one transaction inserts the rows, records bad lines, moves counters."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and not writes.wait_for_disk:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        inserted, warnings = _insert_rows(batch.dataset_id, prepared, writes)
        if prepared.preferences:
            insert_preferences(batch_id=batch.pk, preferences=prepared.preferences)
        # The first rejected lines are stored; the rest are counted by reason (a file of
        # millions of bad lines must not become millions of rows).
        room = max(0, settings.CURATOR_IMPORT_MAX_STORED_ERRORS - batch.invalid)
        ImportLineError.objects.bulk_create(
            [
                ImportLineError(batch=batch, line=r.line, field=r.field[:200], reason=r.reason)
                for r in prepared.bad[:room]
            ],
            ignore_conflicts=True,
        )
        fields: dict[str, Any] = {
            "read": batch.read + prepared.read,
            "imported": batch.imported + inserted,
            "duplicates": batch.duplicates + prepared.good - inserted,
            "invalid": batch.invalid + len(prepared.bad),
            "warnings": batch.warnings + warnings,
        }
        if prepared.unmapped:
            fields["unmapped_fields"] = merge_counts(batch.unmapped_fields, prepared.unmapped)
        if len(prepared.bad) > room:
            fields["errors_not_stored"] = merge_counts(
                batch.errors_not_stored, count_reasons(prepared.bad[room:]), other=OTHER_REASONS
            )
        if prepared.done is not None:
            fields["done"] = max(batch.done, prepared.done)
        batch.beat(**fields)


class _ChunkWriter:
    """Writes chunks in order on a second thread, so Postgres works while Python parses.

    Inside an outer transaction (tests, callers that hold one) a second connection could not
    see the batch row, so chunks are then written inline.
    """

    def __init__(self, batch: ImportBatch, writes: _Writes) -> None:
        self.batch = batch
        self.writes = writes
        self.threaded = not connection.in_atomic_block
        # One chunk waiting while one is written: memory stays a few chunks whatever the file.
        self.queue: queue.Queue[PreparedChunk | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"import-writer-{batch.pk}", daemon=True
        )

    def __enter__(self) -> _ChunkWriter:
        if self.threaded:
            self.thread.start()
        return self

    def put(self, prepared: PreparedChunk) -> None:
        if not self.threaded:
            _write_chunk(self.batch, prepared, self.writes)
            return
        self._raise_if_failed()
        self.queue.put(prepared)

    def _run(self) -> None:
        try:
            while (prepared := self.queue.get()) is not None:
                if self.error is None:
                    try:
                        _write_chunk(self.batch, prepared, self.writes)
                    except BaseException as error:  # re-raised on the importing thread
                        self.error = error
        finally:
            connection.close()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def __exit__(self, *exc_info: object) -> None:
        if self.threaded:
            self.queue.put(None)
            self.thread.join()
            self._raise_if_failed()


def _insert_rows(dataset_id: int, prepared: PreparedChunk, writes: _Writes) -> tuple[int, int]:
    """Insert the chunk's conversations whose hash is new to the dataset; (inserted, flagged).

    The hashes already there are looked up first (see `_Writes.probe`) and the new rows
    COPied straight into the table: one COPY stream per chunk, no staging. Should a row's hash
    be in the dataset all the same (not looked up, or inserted meanwhile by another import of
    the dataset), the unique constraint refuses the COPY and the chunk goes through a staging
    table with ON CONFLICT DO NOTHING instead."""
    if not prepared.rows:
        return 0, 0
    table = Conversation._meta.db_table
    if not writes.probe:
        known: set[str] = set()
    else:
        known = _known_hashes(dataset_id, prepared.hashes)
    new = [i for i, digest in enumerate(prepared.hashes) if digest not in known]
    if not new:
        return 0, 0
    rows = b"".join(prepared.rows[i] for i in new)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            columns = ", ".join(STAGE_COLUMNS)
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(rows)
    except (IntegrityError, psycopg.errors.UniqueViolation):
        # Raised by psycopg itself: the COPY runs on the raw cursor, outside Django's wrapper.
        writes.probe = True
        return _copy_insert(rows)
    return len(new), sum(prepared.flagged[i] for i in new)


def _known_hashes(dataset_id: int, hashes: list[str]) -> set[str]:
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        # One probe of the (dataset, hash) unique index per hash. The plainer `content_hash =
        # ANY(%s)` lets the planner, whose statistics see a dataset being imported as nearly
        # empty, read every row imported so far instead: each chunk slower than the last.
        cursor.execute(
            f"SELECT h FROM unnest(%s::text[]) AS h WHERE EXISTS (SELECT 1 FROM {table} c "  # noqa: S608
            "WHERE c.dataset_id = %s AND c.content_hash = h)",
            [hashes, dataset_id],
        )
        return {row[0] for row in cursor.fetchall()}


def _copy_insert(rows: bytes) -> tuple[int, int]:
    """COPY rows into a session temp table, then insert the ones whose hash is new."""
    if not rows:
        return 0, 0
    table = Conversation._meta.db_table
    columns = ", ".join(STAGE_COLUMNS)
    with connection.cursor() as cursor:
        # Column types copied from the real table, without its identity or constraints.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS curator_import_stage ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY curator_import_stage ({columns}) FROM STDIN") as copy:
            copy.write(rows)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM curator_import_stage "  # noqa: S608
            "ORDER BY source_line ON CONFLICT (dataset_id, content_hash) DO NOTHING "
            "RETURNING cardinality(flags) > 0"
        )
        flagged = [row[0] for row in cursor.fetchall()]
        cursor.execute("TRUNCATE curator_import_stage")
    return len(flagged), sum(flagged)


def run_import_job(*, batch_id: int) -> ImportBatch | None:
    """Claim, run and finish one batch; safe to call again for the same batch."""
    batch = ImportBatch.objects.select_related("dataset").get(pk=batch_id)

    def work() -> bool:
        batch.beat(outcome="")
        import_batch(batch=batch)
        return True

    def refused(error: ImportFileError) -> bool:
        batch.fail(f"{batch.original_name}: {error}", outcome=ImportOutcome.FAILED)
        return False

    imported = batch.run_claimed(
        work,
        handlers={ImportFileError: refused},
        unexpected=lambda error: (
            f"{batch.original_name}: {unexpected_error(error, 'Retry resumes where it stopped')}"
        ),
        outcome=ImportOutcome.FAILED,
    )
    if imported is None:
        return None
    if imported:
        after_import(batch=batch)
    return batch


def after_import(*, batch: ImportBatch) -> None:
    """Queue what follows an import: quality signals and clusters, and PII detection."""
    if batch.imported:
        # The run row and its message only: the analysis (numpy, MinHash) loads in its job.
        QualityRun.objects.create(dataset=batch.dataset, batch=batch).enqueue()
        start_detection(dataset=batch.dataset)
