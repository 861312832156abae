"""Ingest: production conversations posted to the API, imported exactly as a file would be.

The body is a JSON array or JSONL of OpenAI chat conversations. Each item goes through the
file import's normaliser (``normalize_openai``) and row writer (``import_records``): the same
validation, dedup, token counts, flags, and PII detection afterwards. The feedback fields
(``feedback``, ``score``, ``comment``, ``trace_id``, ``source``, ``model``) are checked here and
kept in the conversation's metadata like any extra key of an imported line.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

import django_rq
import orjson
from django.conf import settings
from django.core.files.base import File
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from curation.importers import SourceRecord
from curation.importers.body_items import BodyError, ItemSplitter, RawItem
from curation.models import (
    AccessToken,
    AuditEvent,
    Dataset,
    ImportBatch,
    IngestRequest,
    JobStatus,
    QualityRun,
)
from curation.services.imports import after_import, import_records
from curation.services.pii.runs import start_detection
from curation.validation import RecordError, normalize_openai

FEEDBACK_VALUES = ("up", "down")
TEXT_FIELDS = {"comment": 10000, "trace_id": 200, "source": 200, "model": 300}
# An Idempotency-Key whose first request never answered (its process died) is taken over
# after this long.
STALE_AFTER = timedelta(minutes=15)
READ_CHUNK = 64 * 1024
# Bodies up to this size stay in memory while they are imported; bigger ones go to disk.
SPOOL_IN_MEMORY = 1024 * 1024


class IngestError(Exception):
    """The request as a whole is refused (nothing imported); ``status`` is the HTTP status."""

    def __init__(self, status: int, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.extra = extra


@dataclass
class IngestResult:
    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass
class IngestBody:
    """A request body read under the limits: spooled (memory, then disk), hashed, and split
    into items whose bytes are read back one at a time."""

    file: IO[bytes]
    size: int
    sha256: str
    kind: str  # "json" or "jsonl"
    items: list[RawItem]

    def raw(self, item: RawItem) -> bytes:
        self.file.seek(item.start)
        return self.file.read(item.size)


def read_body(stream: IO[bytes], *, max_bytes: int, max_items: int) -> IngestBody:
    """Read and split a body as it arrives; stops at the first byte or item over a limit
    (IngestError 413), so a hostile body costs a chunk of memory, not its parse."""
    splitter = ItemSplitter()
    digest = hashlib.sha256()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    items: list[RawItem] = []
    size = 0
    try:
        while True:
            chunk = stream.read(READ_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise IngestError(
                    413, f"the body is over the limit of {max_bytes} bytes", limit=max_bytes
                )
            digest.update(chunk)
            spool.write(chunk)
            items.extend(splitter.feed(chunk))
            if len(items) > max_items:
                raise IngestError(
                    413,
                    f"more conversations than the limit of {max_items} per request: reading "
                    f"stopped at item {max_items + 1} (line {items[max_items].line})",
                    limit=max_items,
                )
        items.extend(splitter.close())
    except BodyError as error:
        spool.close()
        raise IngestError(400, f"malformed body: {error}") from None
    except IngestError:
        spool.close()
        raise
    if len(items) > max_items:
        spool.close()
        raise IngestError(
            413,
            f"{len(items)} conversations are over the limit of {max_items} per request",
            limit=max_items,
        )
    return IngestBody(spool, size, digest.hexdigest(), splitter.kind, items)


def body_from_bytes(body: bytes) -> IngestBody:
    """A body already in memory (the CLI and tests), under the same limits."""
    return read_body(
        io.BytesIO(body),
        max_bytes=settings.CURATOR_INGEST_MAX_BYTES,
        max_items=settings.CURATOR_INGEST_MAX_ITEMS,
    )


def parse_item(body: IngestBody, item: RawItem) -> Any:
    """One item's JSON value, or a SourceRecord saying where and why it is not valid JSON."""
    line = item.index + 1
    if item.size > settings.CURATOR_MAX_LINE_BYTES:
        return SourceRecord(
            line=line,
            reason=f"item at line {item.line}, column {item.column} is {item.size} bytes, over "
            f"the limit of {settings.CURATOR_MAX_LINE_BYTES} per item",
        )
    raw = body.raw(item)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        at_line, at_column = item.place(error.lineno, error.colno)
        message = error.msg
        if "recursion" in message:
            message = "nested deeper than 1024 levels"
        return SourceRecord(
            line=line, reason=f"not valid JSON at line {at_line}, column {at_column}: {message}"
        )
    if b"\\u0000" in raw and _has_nul(value):
        # Said here rather than by the row writer, so the answer lists it with the others.
        return SourceRecord(
            line=line,
            reason=f"item at line {item.line}, column {item.column} contains a NUL character "
            "(\\u0000), which cannot be stored",
        )
    return value


def _has_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return False


def _feedback_error(item: dict[str, Any]) -> tuple[str, str] | None:
    feedback = item.get("feedback")
    if feedback is not None and feedback not in FEEDBACK_VALUES:
        return "feedback", f'feedback must be "up" or "down", not {feedback!r}'
    # Present means a rating: "score": null is refused rather than read as no rating, so a
    # serving bug that drops the number is seen at ingest, not in the canary's rates.
    if "score" in item:
        score = item["score"]
        if isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 5:
            shown = "null" if score is None else repr(score)
            return "score", f"score must be a number from 1 to 5 when present, not {shown}"
    for name, limit in TEXT_FIELDS.items():
        value = item.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return name, f"{name} must be a string"
        if len(value) > limit:
            return name, f"{name} is longer than {limit} characters"
    metadata = item.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata", "metadata must be a JSON object"
    return None


def to_record(index: int, item: Any) -> SourceRecord:
    """One item as the import's SourceRecord (line = index + 1)."""
    if isinstance(item, SourceRecord):
        return item
    line = index + 1
    if not isinstance(item, dict):
        kind = "null" if item is None else type(item).__name__
        return SourceRecord(line=line, reason=f"not a JSON object but {kind}")
    problem = _feedback_error(item)
    if problem:
        return SourceRecord(line=line, field=problem[0], reason=problem[1])
    try:
        return SourceRecord(line=line, normalized=normalize_openai(item))
    except RecordError as error:
        return SourceRecord(line=line, reason=error.reason, field=error.field)


def _claim_key(
    *, dataset: Dataset, token: AccessToken, key: str, digest: str
) -> tuple[IngestRequest, IngestResult | None]:
    """The request row for this key, or the stored answer when the key was seen before."""
    if not key:
        # Saved with its batch and answer, in the request's transaction.
        return IngestRequest(dataset=dataset, token=token, body_sha256=digest), None
    try:
        with transaction.atomic():
            return (
                IngestRequest.objects.create(
                    dataset=dataset, token=token, idempotency_key=key, body_sha256=digest
                ),
                None,
            )
    except IntegrityError:
        pass
    earlier = IngestRequest.objects.get(dataset=dataset, idempotency_key=key)
    if earlier.body_sha256 != digest:
        raise IngestError(422, "this Idempotency-Key was already used for a different request body")
    if earlier.response is not None:
        return earlier, IngestResult(earlier.status_code or 200, earlier.response, replayed=True)
    if timezone.now() - earlier.created_at < STALE_AFTER:
        raise IngestError(409, "a request with this Idempotency-Key is still being processed")
    # Its process died: take it over. Dedup keeps what it had written from counting twice.
    IngestRequest.objects.filter(pk=earlier.pk).update(created_at=timezone.now(), token=token)
    return earlier, None


def _records(body: IngestBody, errors: list[dict[str, Any]]) -> Iterator[SourceRecord]:
    """The items as records, parsed one at a time; the bad ones are also noted in `errors`."""
    for item in body.items:
        record = to_record(item.index, parse_item(body, item))
        if record.normalized is None:
            errors.append(
                {
                    "index": item.index,
                    "line": item.line,
                    "column": item.column,
                    "field": record.field,
                    "reason": record.reason,
                }
            )
        yield record


def ingest_conversations(
    *, dataset: Dataset, token: AccessToken, body: IngestBody, idempotency_key: str = ""
) -> IngestResult:
    """Import the posted conversations; never drops a good item because of a bad one."""
    key = idempotency_key.strip()[:200]
    digest = body.sha256
    request_row, replay = _claim_key(dataset=dataset, token=token, key=key, digest=digest)
    if replay is not None:
        return replay
    errors: list[dict[str, Any]] = []
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    name = f"api-ingest-{stamp}.{body.kind}"
    # A request of one chunk is one transaction (fewer commits for the many small requests of
    # a serving system); a bigger one commits chunk by chunk while the next is parsed.
    single = len(body.items) <= settings.CURATOR_IMPORT_BATCH_SIZE
    batch = None
    try:
        with transaction.atomic() if single else nullcontext():
            batch = ImportBatch(
                dataset=dataset,
                created_by=token.user,
                original_name=name,
                format="openai",
                detected_format="openai",
                size=body.size,
                sha256=digest,
                total=body.size,
                # Written within this request, which holds it from start to end: no worker
                # to claim it, no heartbeat to keep.
                status=JobStatus.RUNNING,
                started_at=timezone.now(),
                attempts=1,
            )
            with nullcontext() if single else transaction.atomic():
                body.file.seek(0)
                batch.file.save(name, File(body.file), save=False)
                batch.save()
                request_row.batch = batch
                if not single:
                    # Chunks commit one by one: mark the batch as ingested from the start.
                    request_row.save()
            import_records(batch=batch, records=_records(body, errors))
            batch.succeed(done=body.size)
            response = {
                "imported": batch.imported,
                "duplicates": batch.duplicates,
                "errors": errors,
                "batch": batch.pk,
            }
            status = 422 if errors and not (batch.imported or batch.duplicates) else 200
            request_row.status_code, request_row.response = status, response
            request_row.save()
            AuditEvent.record(
                actor=token.user,
                action="import.ingest",
                obj=batch,
                dataset=dataset,
                token=token.prefix,
                imported=batch.imported,
                duplicates=batch.duplicates,
                invalid=len(errors),
                idempotency_key=key or None,
            )
    except Exception as error:
        if batch is not None and batch.pk:
            batch.fail(f"{name}: unexpected error ({type(error).__name__}: {error})")
        # Free the key so the client's retry runs again (dedup keeps rows from doubling).
        if request_row.pk is not None:
            IngestRequest.objects.filter(pk=request_row.pk).delete()
        raise
    if batch.imported:
        _queue_follow_up(batch)
    return IngestResult(status, response)


FOLLOW_UP_KEY = "curator:ingest-follow-up:{dataset}"


def _queue_follow_up(batch: ImportBatch) -> None:
    """Queue what follows an import (quality signals, PII detection) on a worker, as a file
    import's own job does. Requests that arrive while one follow-up waits share it (a serving
    system posts often); inline when Redis cannot take the job, so nothing is skipped."""
    try:
        waiting = django_rq.get_connection("default").set(
            FOLLOW_UP_KEY.format(dataset=batch.dataset_id), "1", nx=True, ex=300
        )
        if waiting:
            django_rq.get_queue("default").enqueue(
                "curation.jobs.follow_up_ingests", batch.dataset_id
            )
    except (RedisError, OSError):
        after_import(batch=batch)


def follow_up_ingests(*, dataset_id: int) -> int:
    """Quality signals for every ingested batch that has none yet, then one PII detection
    run for all of them; returns how many batches were followed up."""
    django_rq.get_connection("default").delete(FOLLOW_UP_KEY.format(dataset=dataset_id))
    done = QualityRun.objects.filter(dataset_id=dataset_id, batch__isnull=False).values("batch_id")
    batches = list(
        ImportBatch.objects.filter(
            dataset_id=dataset_id, ingest_request__isnull=False, imported__gt=0
        )
        .exclude(pk__in=done)
        .select_related("dataset")
        .order_by("pk")
    )
    for batch in batches:
        QualityRun.objects.create(dataset=batch.dataset, batch=batch).enqueue()
    if batches:
        start_detection(dataset=batches[0].dataset)
    return len(batches)
