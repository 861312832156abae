"""PII detection runs: one active run per dataset, planned into id chunks fanned out over
`pii` workers, each chunk's findings and redacted copies stored in one transaction."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import django_rq
import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from rq.worker import Worker

from curation.models import (
    ACTIVE_STATUSES,
    AuditEvent,
    Conversation,
    ConversationStatus,
    Dataset,
    FindingSource,
    JobStatus,
    PiiFinding,
    PiiRun,
)
from curation.pii.config import Detection, TextContext
from curation.pii.conversation import message_contexts, resolve_conversation
from curation.pii.engine import get_engine
from curation.pii.redaction import iter_text_fields, other_occurrences
from curation.selectors.redaction import pii_config_for, pii_messages, redacted_messages
from curation.services.pii.cache import analyze_texts, forget_other_settings

logger = logging.getLogger(__name__)


def _targets(run: PiiRun) -> Any:
    conversations = Conversation.objects.filter(
        dataset_id=run.dataset_id, originals_purged_at__isnull=True
    )
    if not run.rescan_all:
        conversations = conversations.filter(status=ConversationStatus.PENDING_PII)
    return conversations


def _remaining(run: PiiRun) -> Any:
    """What this run still has to analyze (whoever else analyzed the rest)."""
    return _targets(run).exclude(pii_run=run)


def start_detection(
    *, dataset: Dataset, user: Any = None, rescan_all: bool = False, enqueue: bool = True
) -> PiiRun | None:
    """Queue detection for a dataset; None when there is nothing to scan.

    One run per dataset is active at a time, so runs never race for the same conversations:
    while one is active, new conversations (another import finishing) join it and its
    planner is queued again to hand them out; a full re-scan takes over from it instead
    (the earlier run ends cancelled, naming its successor). With PII detection off the
    dataset's waiting conversations go straight to review.
    """
    with transaction.atomic():
        # Serializes starts per dataset (99 imports finishing at once start one run).
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if not dataset.pii_detection:
            skip_detection(dataset=dataset)
            return None
        active = dataset.pii_runs.filter(status__in=ACTIVE_STATUSES).order_by("id").first()
        if active is not None and active.is_lost:
            active.refresh_lost()
            active = None
        if active is not None and not rescan_all:
            total = active.done + _remaining(active).count()
            PiiRun.objects.filter(pk=active.pk).update(total=total)
            active.total = total
            if enqueue and active.status == JobStatus.RUNNING:
                _enqueue_planner(active)
            return active
        run = PiiRun(dataset=dataset, rescan_all=rescan_all)
        if getattr(user, "is_authenticated", False):
            run.created_by = user
        total = _targets(run).count()
        if total == 0 and not rescan_all:
            return None
        run.total = total
        run.save()
        # Analyses made under earlier settings (or detector code) can never be hit again.
        # Settings that do not validate are left to the run, which fails naming them.
        with contextlib.suppress(ValueError):
            forget_other_settings(dataset_id=dataset.pk, config=pii_config_for(dataset))
        if active is not None:
            PiiRun.objects.filter(pk=active.pk, status__in=ACTIVE_STATUSES).update(
                status=JobStatus.CANCELLED,
                finished_at=timezone.now(),
                error=f"taken over by run {run.pk} (a full re-scan)",
            )
        # Without a user (after an import, or `manage.py redact`) the system started it.
        AuditEvent.record(
            actor=user, action="pii.run", obj=run, dataset=dataset, rescan_all=rescan_all
        )
        if enqueue:
            run.enqueue()
    return run


def skip_detection(*, dataset: Dataset) -> int:
    """Send a dataset's waiting conversations to review unscanned (PII detection off)."""
    return Conversation.objects.filter(
        dataset=dataset, status=ConversationStatus.PENDING_PII
    ).update(status=ConversationStatus.IN_REVIEW, updated_at=timezone.now())


def pii_settings_update(*, dataset: Dataset, user: Any, changed: list[str]) -> None:
    """Save a dataset's edited PII settings; with detection now off, its waiting
    conversations go to review unscanned."""
    with transaction.atomic():
        dataset.save()
        if not dataset.pii_detection:
            skip_detection(dataset=dataset)
        AuditEvent.record(
            actor=user, action="pii.settings", obj=dataset, dataset=dataset, changed=sorted(changed)
        )


def pii_run_retry(*, run: PiiRun, user: Any) -> bool:
    """Put a failed run back on its queue (conversations it analyzed are skipped); False
    when it cannot be retried."""
    if not run.retry():
        return False
    AuditEvent.record(actor=user, action="pii.retry", obj=run, dataset=run.dataset)
    return True


def _enqueue_planner(run: PiiRun) -> None:
    transaction.on_commit(
        lambda: django_rq.get_queue("pii").enqueue("curation.jobs.run_pii", run.pk)
    )


def run_detection_here(*, run: PiiRun) -> PiiRun:
    """Do a run's remaining work in this process (the CLI's --wait), chunk by chunk.

    The run may be queued (claimed here) or already running on workers: then this process
    works through the same remaining conversations beside them (row locks keep any one
    conversation from being analyzed twice). Returns the run as it ended; a failure ends it
    failed with the error, never "running".
    """
    run = PiiRun.objects.get(pk=run.pk)
    # Loaded before the run's clock starts, as a worker loads it before taking jobs: the run's
    # duration and rate are then the detection's alone (the load is seconds, tens of seconds
    # on a busy machine, and made a small run look several times slower than a large one).
    # An engine that fails to load fails again inside the run, which then ends failed with it.
    with contextlib.suppress(Exception):
        get_engine()
    run.claim()
    size = settings.CURATOR_PII_CHUNK_SIZE
    try:
        while True:
            run.refresh_from_db()
            if run.status != JobStatus.RUNNING:
                break
            ids = list(_remaining(run).order_by("id").values_list("id", flat=True)[:size])
            if not ids:
                break
            detect_chunk(run_id=run.pk, first_id=ids[0], last_id=ids[-1])
    except Exception as error:
        logger.exception("PII run %s failed", run.pk)
        run.fail(f"detection failed: {type(error).__name__}: {error}")
    reconcile_runs(dataset_id=run.dataset_id)
    return PiiRun.objects.get(pk=run.pk)


def plan_detection(*, run_id: int) -> None:
    """Hand the run's conversations out as id chunks, one `pii` job each.

    Claims a queued run and plans everything it has left (also on Retry: conversations it
    already analyzed are left out). On a running run (new conversations joined it) it plans
    only ids past those planned before; a conditional UPDATE keeps two planners from
    handing out the same range.
    """
    run = PiiRun.objects.get(pk=run_id)
    if run.claim():
        after = 0
    elif run.status == JobStatus.RUNNING:
        after = run.planned_through
    else:
        return

    def plan() -> None:
        remaining = _remaining(run).filter(id__gt=after).order_by("id")
        last = remaining.values_list("id", flat=True).last()
        if last is None:
            reconcile_runs(dataset_id=run.dataset_id)
            return
        claimed = PiiRun.objects.filter(pk=run.pk, planned_through=run.planned_through).update(
            planned_through=last, heartbeat_at=timezone.now()
        )
        if not claimed:
            return  # another planner took this range
        queue = django_rq.get_queue("pii")
        size = chunk_size(
            conversations=remaining.filter(id__lte=last).count(),
            workers=Worker.count(queue=queue),
        )
        chunk: list[int] = []
        chunks = 0
        for conversation_id in (
            remaining.filter(id__lte=last).values_list("id", flat=True).iterator(chunk_size=10_000)
        ):
            chunk.append(conversation_id)
            if len(chunk) == size:
                queue.enqueue(
                    "curation.jobs.detect_pii_chunk", run.pk, chunk[0], chunk[-1], job_timeout=3600
                )
                chunks += 1
                chunk = []
        if chunk:
            queue.enqueue(
                "curation.jobs.detect_pii_chunk", run.pk, chunk[0], chunk[-1], job_timeout=3600
            )
            chunks += 1
        PiiRun.objects.filter(pk=run.pk).update(chunks=F("chunks") + chunks)

    run.run_guarded(
        plan, unexpected=lambda error: f"planning failed: {type(error).__name__}: {error}"
    )


# Conversations per chunk at most: a chunk's texts, spans and redacted copies stay in memory.
_MAX_CHUNK = 2000
# Chunks per worker at least: workers pull chunks as they free up, so a run ends at most about
# one chunk after its fastest worker; eight keep that tail near an eighth of a worker's share.
_CHUNKS_PER_WORKER = 8
# Workers assumed at least: a run is often planned before the pool it will run on is up (the
# planner runs on the only listening worker, a burst worker or a scaled-out machine starts
# after it), and chunks sized for one worker leave a later one nothing to take.
_MIN_WORKERS = 2


def chunk_size(*, conversations: int, workers: int) -> int:
    """Conversations per chunk: at least the configured size, so that each chunk's fixed cost
    (the forked work horse, its queries, the commit) stays small beside its messages, and at
    most enough that every worker (two at least) gets eight chunks. Planned with no worker
    listening, a run used to be cut into four large chunks: two workers took two each, and
    whatever made one of them slower (a cold cache, more distinct texts, a later start) left
    the other idle for the whole difference."""
    floor = settings.CURATOR_PII_CHUNK_SIZE
    share = conversations // (_CHUNKS_PER_WORKER * max(_MIN_WORKERS, workers))
    return max(floor, min(_MAX_CHUNK, share))


def detect_chunk(*, run_id: int, first_id: int, last_id: int) -> int:
    """Analyze one id range for a run; returns how many conversations it analyzed.

    Any error ends the run failed with its message (a bad custom pattern, a timeout), so a
    run never stays "running" after its work stopped; Retry resumes it.
    """
    run = PiiRun.objects.select_related("dataset").get(pk=run_id)
    if run.status != JobStatus.RUNNING:
        logger.info("PII run %s is %s; skipping chunk %s-%s", run_id, run.status, first_id, last_id)
        return 0
    try:
        candidates = list(
            _remaining(run)
            .filter(id__gte=first_id, id__lte=last_id)
            .order_by("id")
            .only("id", "original", "dataset_id")
            .prefetch_related("revisions", "preference")
        )
        analyzed = 0
        if candidates:
            detections = _detect(candidates, run.dataset)
            analyzed = _store_detections(run=run, detections=detections)
    except Exception as error:
        logger.exception("PII run %s failed on chunk %s-%s", run_id, first_id, last_id)
        run.fail(f"detection failed on conversations {first_id}-{last_id}: {error}")
        raise
    reconcile_runs(dataset_id=run.dataset_id)
    return analyzed


def reconcile_runs(*, dataset_id: int | None = None) -> int:
    """Settle runs whose state no longer matches their work; returns how many changed.

    A running run with nothing left to analyze (others analyzed the rest, or its last chunk
    just ended) succeeds; one whose workers stopped beating fails as lost (Retry resumes it).
    Chunks call this for their dataset; pages and the CLI call it before showing a run.
    """
    runs = PiiRun.objects.filter(status=JobStatus.RUNNING)
    if dataset_id is not None:
        runs = runs.filter(dataset_id=dataset_id)
    changed = runs.mark_lost()
    for run in runs:
        if not _remaining(run).exists():
            changed += PiiRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING).update(
                status=JobStatus.SUCCEEDED, finished_at=timezone.now()
            )
    return changed


def _detect(conversations: list[Conversation], dataset: Dataset) -> dict[int, list[dict[str, Any]]]:
    """Per-text detection through the dataset's cache (each text with what its detection reads
    besides the text: the agent's preceding question, the region, the languages), then the
    per-conversation pass over cached and fresh spans alike."""
    places: list[tuple[int, int, str]] = []
    items: list[tuple[str, TextContext]] = []
    for conversation in conversations:
        messages = pii_messages(conversation)
        # What each text's detection reads besides the text (see curation.pii.conversation).
        per_message = message_contexts(
            [(str(m.get("role", "")), str(m.get("content") or "")) for m in messages],
            region=dataset.region,
            languages=dataset.languages,
        )
        for message_index, field, text in iter_text_fields(messages):
            places.append((conversation.pk, message_index, field))
            items.append((text, per_message[message_index]))
    found: dict[int, list[dict[str, Any]]] = {conversation.pk: [] for conversation in conversations}
    analysis = analyze_texts(dataset_id=dataset.pk, items=items, config=pii_config_for(dataset))
    texts_by_conversation: dict[int, dict[tuple[int, str], str]] = defaultdict(dict)
    per_text: dict[int, dict[tuple[int, str], list[Detection]]] = defaultdict(dict)
    # Texts and reused texts per conversation: a run counts only the conversations it stores.
    counts: dict[int, list[int]] = {conversation.pk: [0, 0] for conversation in conversations}
    for (conversation_id, message_index, field), (text, _), spans, reused in zip(
        places, items, analysis.spans, analysis.reused, strict=True
    ):
        texts_by_conversation[conversation_id][(message_index, field)] = text
        counts[conversation_id][0] += 1
        counts[conversation_id][1] += reused
        per_text[conversation_id][(message_index, field)] = [
            Detection(start, end, entity_type, score, text[start:end])
            for start, end, entity_type, score in spans
        ]
    for conversation in conversations:
        fields = texts_by_conversation[conversation.pk]
        detected = per_text[conversation.pk]
        # The conversation pass: usernames, parts of full names (after the per-text pass).
        for key, extra in resolve_conversation(fields, detected).items():
            detected[key] = [*detected.get(key, []), *extra]
        found[conversation.pk].extend(
            {
                "message_index": message_index,
                "field": field,
                "start": detection.start,
                "end": detection.end,
                "entity_type": detection.entity_type,
                "score": round(float(detection.score), 4),
            }
            for (message_index, field), detections in detected.items()
            for detection in detections
        )
        # Conversation-wide: a value detected in one message is found wherever else it appears.
        _add_other_occurrences(found[conversation.pk], fields)
    # The counts ride along under a str key that _store_detections pops before storing.
    found["_counts"] = counts  # type: ignore[assignment,index]
    return found


def _add_other_occurrences(spans: list[dict[str, Any]], fields: dict[tuple[int, str], str]) -> None:
    """Findings for every other occurrence of a detected value in the same conversation.

    Redaction applies them anyway (see `other_occurrences`); as findings they are shown to
    reviewers, counted and can be decided on.
    """
    if not spans:
        return
    values = {
        fields[(span["message_index"], span["field"])][span["start"] : span["end"]]: span[
            "entity_type"
        ]
        for span in spans
    }
    for (index, field), found in other_occurrences(fields, values).items():
        for start, end, entity_type in found:
            overlapping = [
                s
                for s in spans
                if s["message_index"] == index
                and s["field"] == field
                and s["start"] < end
                and start < s["end"]
            ]
            # A fragment inside the whole value ("LD4567890" of "LD45678902") gives way to it:
            # an identifier is redacted whole, never as pieces of other types.
            if any(s["start"] < start or s["end"] > end for s in overlapping) or any(
                (s["start"], s["end"]) == (start, end) for s in overlapping
            ):
                continue
            for fragment in overlapping:
                spans.remove(fragment)
            spans.append(
                {
                    "message_index": index,
                    "field": field,
                    "start": start,
                    "end": end,
                    "entity_type": entity_type,
                    "score": 1.0,
                }
            )


def _overlaps(span: dict[str, Any], kept: Iterable[PiiFinding]) -> bool:
    return any(
        finding.message_index == span["message_index"]
        and finding.field == span["field"]
        and finding.start < span["end"]
        and span["start"] < finding.end
        for finding in kept
    )


def _store_detections(*, run: PiiRun, detections: dict[int, list[dict[str, Any]]]) -> int:
    counts: dict[int, list[int]] = detections.pop("_counts", {})  # type: ignore[call-overload]  # the counts ride along under "_counts"
    with transaction.atomic():
        # Lock the rows, waiting for another worker that holds some of them (an earlier run's
        # last chunk): once it commits, rows it analyzed for this run drop out of the filter,
        # which PostgreSQL re-checks after the wait, so no finding is stored twice.
        locked = list(
            Conversation.objects.select_for_update(of=("self",))
            .filter(pk__in=list(detections))
            .exclude(pii_run=run)
            .order_by("pk")
            .select_related("dataset")
            .prefetch_related("revisions", "preference")
        )
        if not locked:
            logger.warning(
                "PII run %s: conversations %s were locked or already scanned",
                run.pk,
                list(detections)[:3],
            )
            return 0
        ids = [conversation.pk for conversation in locked]
        messages = sum(counts[pk][0] for pk in ids)
        reused = sum(counts[pk][1] for pk in ids)
        PiiFinding.objects.filter(conversation_id__in=ids, decided_by__isnull=True).delete()
        reviewed: dict[int, list[PiiFinding]] = defaultdict(list)
        for finding in PiiFinding.objects.filter(conversation_id__in=ids):
            reviewed[finding.conversation_id].append(finding)
        new = [
            PiiFinding(conversation_id=conversation_id, source=FindingSource.DETECTOR, **span)
            for conversation_id in ids
            for span in detections[conversation_id]
            if not _overlaps(span, reviewed[conversation_id])
        ]
        PiiFinding.objects.bulk_create(new, batch_size=2000)
        by_conversation: dict[int, list[PiiFinding]] = defaultdict(list)
        for finding in [*new, *(f for fs in reviewed.values() for f in fs)]:
            by_conversation[finding.conversation_id].append(finding)
        _update_scanned(
            run=run,
            ids=ids,
            redacted=[redacted_messages(c, findings=by_conversation[c.pk]) for c in locked],
        )
        PiiRun.objects.filter(pk=run.pk).update(
            done=F("done") + len(locked),
            messages_analyzed=F("messages_analyzed") + messages,
            messages_reused=F("messages_reused") + reused,
            findings=F("findings") + len(new),
            heartbeat_at=timezone.now(),
        )
    return len(locked)


def _update_scanned(*, run: PiiRun, ids: list[int], redacted: list[Any]) -> None:
    """One UPDATE for the whole chunk: redacted copies, the run that scanned them, status."""
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS c
            SET redacted = v.redacted::jsonb,
                pii_run_id = %s,
                status = CASE WHEN c.status = %s THEN %s ELSE c.status END,
                updated_at = now()
            FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::text[]) AS redacted) AS v
            WHERE c.id = v.id
            """,  # noqa: S608 - the table name is ours
            [
                run.pk,
                ConversationStatus.PENDING_PII,
                ConversationStatus.IN_REVIEW,
                ids,
                [orjson.dumps(messages).decode() for messages in redacted],
            ],
        )
