"""Ingest: production conversations posted to the API, imported exactly as a file would be.

The body is a JSON array or JSONL of OpenAI chat conversations. Each item goes through the
file import's normaliser (``normalize_openai``) and row writer (``import_records``): the same
validation, dedup, token counts, flags, and PII detection afterwards. The feedback fields
(``feedback``, ``score``, ``comment``, ``trace_id``, ``source``, ``model``) are checked here and
kept in the conversation's metadata like any extra key of an imported line.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import django_rq
import orjson
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from curation.importers import SourceRecord
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


def _position(body: bytes, error: ValueError) -> str:
    line = getattr(error, "lineno", None)
    column = getattr(error, "colno", None)
    offset = getattr(error, "pos", None)
    return f"line {line}, column {column} (character {offset})"


def parse_items(body: bytes) -> list[tuple[int, Any] | tuple[int, SourceRecord]]:
    """(index, item) for each conversation; a JSONL line that is not JSON is already a
    SourceRecord with its reason. A malformed JSON array refuses the whole body (400)."""
    text = body.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise IngestError(400, "the body is empty: send a JSON array or JSONL of conversations")
    if text[:1] == b"[":
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError:
            try:
                json.loads(text.decode("utf-8"))
            except UnicodeDecodeError as error:
                raise IngestError(400, f"invalid UTF-8 at byte {error.start}") from None
            except ValueError as error:
                raise IngestError(
                    400,
                    f"malformed JSON at {_position(text, error)}: {error.msg}",  # type: ignore[attr-defined]
                ) from None
            raise IngestError(400, "malformed JSON") from None
        return list(enumerate(items))
    parsed: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        index = len(parsed)
        try:
            parsed.append((index, orjson.loads(line)))
        except orjson.JSONDecodeError:
            try:
                json.loads(line.decode("utf-8"))
                reason = "not valid JSON"
            except UnicodeDecodeError as error:
                reason = f"invalid UTF-8 at byte {error.start} of line {number}"
            except ValueError as error:
                reason = f"malformed JSON on line {number}, column {error.colno}: {error.msg}"  # type: ignore[attr-defined]
            parsed.append((index, SourceRecord(line=index + 1, reason=reason)))
    return parsed


def _feedback_error(item: dict[str, Any]) -> tuple[str, str] | None:
    feedback = item.get("feedback")
    if feedback is not None and feedback not in FEEDBACK_VALUES:
        return "feedback", f'feedback must be "up" or "down", not {feedback!r}'
    score = item.get("score")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 5
    ):
        return "score", f"score must be a number from 1 to 5, not {score!r}"
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


def ingest_conversations(
    *, dataset: Dataset, token: AccessToken, body: bytes, idempotency_key: str = ""
) -> IngestResult:
    """Import the posted conversations; never drops a good item because of a bad one."""
    limit = settings.CURATOR_INGEST_MAX_BYTES
    if len(body) > limit:
        raise IngestError(413, f"the body is over the limit of {limit} bytes", limit=limit)
    key = idempotency_key.strip()[:200]
    digest = hashlib.sha256(body).hexdigest()
    items = parse_items(body)
    if len(items) > settings.CURATOR_INGEST_MAX_ITEMS:
        raise IngestError(
            413,
            f"{len(items)} conversations are over the limit of "
            f"{settings.CURATOR_INGEST_MAX_ITEMS} per request",
            limit=settings.CURATOR_INGEST_MAX_ITEMS,
        )
    request_row, replay = _claim_key(dataset=dataset, token=token, key=key, digest=digest)
    if replay is not None:
        return replay
    records = [to_record(index, item) for index, item in items]
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    name = f"api-ingest-{stamp}.{'json' if body.lstrip()[:1] == b'[' else 'jsonl'}"
    # A request of one chunk is one transaction (fewer commits for the many small requests of
    # a serving system); a bigger one commits chunk by chunk while the next is parsed.
    single = len(records) <= settings.CURATOR_IMPORT_BATCH_SIZE
    batch = None
    try:
        with transaction.atomic() if single else nullcontext():
            batch = ImportBatch(
                dataset=dataset,
                created_by=token.user,
                original_name=name,
                format="openai",
                detected_format="openai",
                size=len(body),
                sha256=digest,
                total=len(body),
                # Written within this request, which holds it from start to end: no worker
                # to claim it, no heartbeat to keep.
                status=JobStatus.RUNNING,
                started_at=timezone.now(),
                attempts=1,
            )
            with nullcontext() if single else transaction.atomic():
                batch.file.save(name, ContentFile(body), save=False)
                batch.save()
                request_row.batch = batch
                if not single:
                    # Chunks commit one by one: mark the batch as ingested from the start.
                    request_row.save()
            import_records(batch=batch, records=records)
            batch.succeed(done=len(body))
            errors = [
                {"index": record.line - 1, "field": record.field, "reason": record.reason}
                for record in records
                if record.normalized is None
            ]
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
