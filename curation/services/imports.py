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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

import orjson
from django.conf import settings
from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone

from curation.importers import (
    ImportFileError,
    SourceRecord,
    detect_format,
    iter_records,
    open_binary,
)
from curation.models import (
    AuditEvent,
    Conversation,
    Dataset,
    ImportBatch,
    ImportLineError,
)
from curation.tokens import count_conversations

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


def _chunks(records: Iterable[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def import_batch(*, batch: ImportBatch) -> ImportBatch:
    """Run (or resume) the import of a claimed batch. Raises ImportFileError for a bad file."""
    path = batch.file.path
    fmt = batch.detected_format or (batch.format if batch.format != "auto" else "")
    if not fmt:
        fmt = detect_format(path, original_name=batch.original_name)
        batch.beat(detected_format=fmt)
    dataset = batch.dataset
    batch.beat(total=batch.size or None)
    # Progress is bytes of the stored file read so far (compressed bytes for .gz).
    stream, counter = open_binary(path)
    with stream, _ChunkWriter(batch) as writer:
        records = iter_records(
            stream, fmt, max_line_bytes=settings.CURATOR_MAX_LINE_BYTES, skip=batch.read
        )
        for chunk in _chunks(records, settings.CURATOR_IMPORT_BATCH_SIZE):
            writer.put(
                _prepare_chunk(batch=batch, dataset=dataset, chunk=chunk, done=counter.position)
            )
    batch.succeed(done=batch.total or batch.done)
    return batch


def import_records(*, batch: ImportBatch, records: Iterable[SourceRecord]) -> ImportBatch:
    """Write already-read records into a claimed batch exactly as a file import does (the
    ingest API's entry: same dedup, token counts, flags, bad-record errors, counters)."""
    chunks = _chunks(records, settings.CURATOR_IMPORT_BATCH_SIZE)
    head = list(islice(chunks, 2))
    if len(head) == 1:
        # One chunk: nothing to overlap, so no writer thread and second connection.
        _write_chunk(
            batch, _prepare_chunk(batch=batch, dataset=batch.dataset, chunk=head[0], done=None)
        )
        return batch
    with _ChunkWriter(batch) as writer:
        for chunk in chain(head, chunks):
            writer.put(_prepare_chunk(batch=batch, dataset=batch.dataset, chunk=chunk, done=None))
    return batch


@dataclass
class PreparedChunk:
    rows: bytes
    bad: list[SourceRecord]
    good: int
    read: int
    done: int | None


def _prepare_chunk(
    *, batch: ImportBatch, dataset: Dataset, chunk: list[SourceRecord], done: int | None
) -> PreparedChunk:
    """The CPU half of a chunk: dedup inside it, token counts, flags, and the COPY text itself.

    Rows are serialized here, with orjson, so that the writer thread only ships bytes and
    does not compete with this one for the interpreter.
    """
    good = [record for record in chunk if record.normalized is not None]
    bad = [record for record in chunk if record.normalized is None]
    seen: set[str] = set()
    unique: list[tuple[SourceRecord, str]] = []
    for record in good:
        digest = record.normalized.content_hash  # type: ignore[union-attr]
        if digest not in seen:
            seen.add(digest)
            unique.append((record, digest))
    counts = count_conversations([(r.normalized.messages, r.normalized.tools) for r, _ in unique])  # type: ignore[union-attr]
    now = timezone.now().isoformat().encode()
    lines: list[bytes] = []
    rejected = 0
    prefix = f"{dataset.pk}\t{batch.pk}\t".encode()
    for (record, digest), (tokens, assistant_tokens) in zip(unique, counts, strict=True):
        normalized = record.normalized
        assert normalized is not None
        messages = _copy_json(normalized.messages)
        metadata = _copy_json(normalized.metadata)
        tools = _copy_json(normalized.tools)
        if (b"u0000" in messages or b"u0000" in tools or b"u0000" in metadata) and _has_nul(
            (normalized.messages, normalized.tools, normalized.metadata)
        ):
            # PostgreSQL's jsonb cannot hold U+0000; say so for this line, keep the others.
            record.normalized = None
            record.reason = "contains a NUL character (\\u0000), which cannot be stored"
            bad.append(record)
            rejected += 1
            continue
        flags = normalized.warnings()
        if tokens > dataset.token_limit:
            flags.append("over_token_limit")
        parallel = {None: b"\\N", True: b"t", False: b"f"}[normalized.parallel_tool_calls]
        lines.append(
            b"\t".join(
                (
                    prefix + str(record.line).encode(),
                    messages,
                    tools,
                    parallel,
                    digest.encode(),
                    b"pending_pii",
                    str(len(normalized.messages)).encode(),
                    str(tokens).encode(),
                    str(assistant_tokens).encode(),
                    ("{" + ",".join(flags) + "}").encode(),
                    metadata,
                    b"0",
                    now,
                    now,
                )
            )
            + b"\n"
        )
    return PreparedChunk(
        rows=b"".join(lines), bad=bad, good=len(good) - rejected, read=len(chunk), done=done
    )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(item) for item in value)
    return False


def _copy_json(value: Any) -> bytes:
    """A JSON value as a field of COPY's text format: NULL as \\N, backslashes doubled.

    orjson escapes every control character inside strings, so tabs and newlines never
    appear raw; only the backslash is special to COPY.
    """
    if value is None:
        return b"\\N"
    return orjson.dumps(value).replace(b"\\", b"\\\\")


def _write_chunk(batch: ImportBatch, prepared: PreparedChunk) -> None:
    """The database half: one transaction inserts the rows, records bad lines, moves counters."""
    with transaction.atomic():
        inserted, warnings = _copy_insert(prepared.rows)
        ImportLineError.objects.bulk_create(
            [
                ImportLineError(batch=batch, line=r.line, field=r.field[:200], reason=r.reason)
                for r in prepared.bad
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
        if prepared.done is not None:
            fields["done"] = max(batch.done, prepared.done)
        batch.beat(**fields)


class _ChunkWriter:
    """Writes chunks in order on a second thread, so Postgres works while Python parses.

    Inside an outer transaction (tests, callers that hold one) a second connection could not
    see the batch row, so chunks are then written inline.
    """

    def __init__(self, batch: ImportBatch) -> None:
        self.batch = batch
        self.threaded = not connection.in_atomic_block
        self.queue: queue.Queue[PreparedChunk | None] = queue.Queue(maxsize=2)
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
            _write_chunk(self.batch, prepared)
            return
        self._raise_if_failed()
        self.queue.put(prepared)

    def _run(self) -> None:
        try:
            while (prepared := self.queue.get()) is not None:
                if self.error is None:
                    try:
                        _write_chunk(self.batch, prepared)
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
    if not batch.claim():
        logger.info("import batch %s is %s; nothing to do", batch_id, batch.status)
        return None
    try:
        import_batch(batch=batch)
    except ImportFileError as error:
        batch.fail(f"{batch.original_name}: {error}")
        return batch
    except Exception as error:
        logger.exception("import batch %s failed", batch_id)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        batch.fail(
            f"{batch.original_name}: unexpected error ({type(error).__name__}: {first_line}); "
            "Retry resumes where it stopped"
        )
        raise
    after_import(batch=batch)
    return batch


def after_import(*, batch: ImportBatch) -> None:
    """Queue what follows an import: quality signals and clusters, and PII detection."""
    from curation.services.pii import start_detection
    from curation.services.quality import start_quality_run

    if batch.imported:
        start_quality_run(dataset=batch.dataset, batch=batch)
        start_detection(dataset=batch.dataset)
