"""PII workflow: detection runs fanned out over `pii` workers, reviewer corrections, purge.

`redacted_messages` is the one function that derives what may leave the system: the review
page's redacted view, snapshot files and training uploads all call it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from curation.models import (
    ACTIVE_STATUSES,
    AuditEvent,
    Conversation,
    ConversationStatus,
    Dataset,
    FindingDecision,
    FindingSource,
    JobStatus,
    PiiFinding,
    PiiRun,
    PreferencePair,
)

logger = logging.getLogger(__name__)


# -- the redacted view ------------------------------------------------------------------


def redacted_messages(
    conversation: Conversation, *, findings: Sequence[PiiFinding] | None = None
) -> list[dict[str, Any]]:
    """The conversation as it may leave the system: current messages with PII replaced.

    `findings` may be passed pre-fetched (bulk exports); otherwise they are loaded. Once the
    originals are purged the stored redacted copy is all there is.
    """
    if conversation.originals_purged_at is not None:
        return conversation.redacted or []
    own = len(conversation.original)
    return _redacted_all(conversation, findings=findings)[:own]


def pii_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """What detection and redaction work on: the current messages, then the alternative reply
    of a preference pair (its findings index it after the conversation's last message), so a
    value redacted in the prompt is redacted the same way in both replies."""
    return [*conversation.current_messages(), *alternative_of(conversation)]


def _redacted_all(
    conversation: Conversation, *, findings: Sequence[PiiFinding] | None = None
) -> list[dict[str, Any]]:
    from curation.pii.redaction import redact_messages

    if findings is None:
        findings = list(conversation.findings.all())
    to_redact = [finding for finding in findings if finding.decision == FindingDecision.REDACT]
    messages = pii_messages(conversation)
    if not to_redact:
        # Nothing to replace: the messages leave as they are (callers never mutate them).
        return messages
    return redact_messages(
        messages, to_redact, operator=conversation.dataset.pii_operator, seed=conversation.pk
    )


def redacted_pair(
    conversation: Conversation, *, findings: Sequence[PiiFinding] | None = None
) -> tuple[list[Any], list[Any], list[Any]]:
    """(prompt, chosen, rejected) of a conversation's preference pair, redacted together by
    the same function and findings as `redacted_messages` (the chosen reply is the edited one
    where a reviewer edited it). Raises PreferencePair.DoesNotExist without a pair."""
    pair = conversation.preference
    if conversation.originals_purged_at is not None:
        # The alternative was redacted with the conversation when the originals were purged.
        return pair.split([*(conversation.redacted or []), *pair.alternative])
    return pair.split(_redacted_all(conversation, findings=findings))


def alternative_of(conversation: Conversation) -> list[dict[str, Any]]:
    """The alternative reply of the conversation's preference pair, or [] without one."""
    try:
        return conversation.preference.alternative
    except PreferencePair.DoesNotExist:
        return []


def pii_config_for(dataset: Dataset) -> Any:
    from curation.pii.engine import PiiConfig

    return PiiConfig(
        entities=list(dataset.pii_entities),
        threshold=dataset.pii_threshold,
        allow_list=list(dataset.pii_allow_list),
        deny_list=list(dataset.pii_deny_list),
        patterns=list(dataset.pii_patterns or []),
    )


# -- detection runs ---------------------------------------------------------------------


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


def _enqueue_planner(run: PiiRun) -> None:
    import django_rq

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
    import django_rq

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
        size = settings.CURATOR_PII_CHUNK_SIZE
        queue = django_rq.get_queue("pii")
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
    from curation.pii.engine import get_engine
    from curation.pii.redaction import iter_text_fields

    places: list[tuple[int, int, str]] = []
    texts: list[str] = []
    for conversation in conversations:
        for message_index, field, text in iter_text_fields(pii_messages(conversation)):
            places.append((conversation.pk, message_index, field))
            texts.append(text)
    found: dict[int, list[dict[str, Any]]] = {conversation.pk: [] for conversation in conversations}
    engine = get_engine()
    for (conversation_id, message_index, field), detections in zip(
        places, engine.iter_analyze(texts, pii_config_for(dataset)), strict=True
    ):
        found[conversation_id].extend(
            {
                "message_index": message_index,
                "field": field,
                "start": detection.start,
                "end": detection.end,
                "entity_type": detection.entity_type,
                "score": round(float(detection.score), 4),
            }
            for detection in detections
        )
    texts_by_conversation: dict[int, dict[tuple[int, str], str]] = defaultdict(dict)
    for (conversation_id, message_index, field), text in zip(places, texts, strict=True):
        texts_by_conversation[conversation_id][(message_index, field)] = text
    for conversation in conversations:
        _add_other_occurrences(found[conversation.pk], texts_by_conversation[conversation.pk])
    found["_messages"] = len(texts)  # type: ignore[index]
    return found


def _add_other_occurrences(spans: list[dict[str, Any]], fields: dict[tuple[int, str], str]) -> None:
    """Findings for every other occurrence of a detected value in the same conversation.

    Redaction applies them anyway (see `other_occurrences`); as findings they are shown to
    reviewers, counted and can be decided on.
    """
    from curation.pii.redaction import other_occurrences

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
            if any(
                s["message_index"] == index
                and s["field"] == field
                and s["start"] < end
                and start < s["end"]
                for s in spans
            ):
                continue
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
    messages = detections.pop("_messages", 0)  # type: ignore[call-overload]
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
            findings=F("findings") + len(new),
            heartbeat_at=timezone.now(),
        )
    return len(locked)


def _update_scanned(*, run: PiiRun, ids: list[int], redacted: list[Any]) -> None:
    """One UPDATE for the whole chunk: redacted copies, the run that scanned them, status."""
    import orjson

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


# -- reviewer corrections -----------------------------------------------------------------


def refresh_redacted(conversation: Conversation) -> None:
    conversation.redacted = redacted_messages(conversation)
    Conversation.objects.filter(pk=conversation.pk).update(
        redacted=conversation.redacted, updated_at=timezone.now()
    )


class PiiDecisionError(ValueError):
    """A PII decision that may not be made; the message is shown to the person."""


def set_finding_decision(*, finding: PiiFinding, decision: str, user: Any) -> PiiFinding:
    """Decide on a finding and on every other finding of the same value in the conversation.

    A value is redacted everywhere or nowhere (see `other_occurrences`), so one decision
    covers all its occurrences. Keeping a value un-redacted on an approved conversation
    would change what leaves the system after the review: it is refused, as for edits.
    """
    from curation.pii.redaction import iter_text_fields

    if decision not in FindingDecision.values:
        raise ValueError(f"unknown decision {decision!r}")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=finding.conversation_id)
        if decision == FindingDecision.KEEP and conversation.status == ConversationStatus.APPROVED:
            raise PiiDecisionError(
                "This conversation is already approved: its redacted text is what gets "
                "exported. Reject or re-review it before keeping personal data in it."
            )
        texts = {(i, f): t for i, f, t in iter_text_fields(conversation.current_messages())}

        def value_of(item: PiiFinding) -> str:
            text = texts.get((item.message_index, item.field), "")
            return " ".join(text[item.start : item.end].split()).casefold()

        value = value_of(finding)
        same = [
            other
            for other in conversation.findings.all()
            if other.pk == finding.pk or (value and value_of(other) == value)
        ]
        previous = finding.decision
        now = timezone.now()
        PiiFinding.objects.filter(pk__in=[other.pk for other in same]).update(
            decision=decision, decided_by=user, decided_at=now
        )
        finding.decision, finding.decided_by, finding.decided_at = decision, user, now
        refresh_redacted(conversation)
        AuditEvent.record(
            actor=user,
            action="pii.decision",
            obj=finding,
            dataset=conversation.dataset,
            conversation=conversation.pk,
            entity_type=finding.entity_type,
            before=previous,
            after=decision,
            occurrences=len(same),
        )
    return finding


def add_reviewer_findings(
    *,
    conversation: Conversation,
    text: str,
    entity_type: str,
    user: Any,
    message_index: int | None = None,
    field: str | None = None,
    start: int | None = None,
) -> list[PiiFinding]:
    """Redact text a detector missed: the exact span given, or every occurrence of `text`."""
    from curation.pii.redaction import iter_text_fields

    text = text.strip() if start is None else text
    if not text:
        raise ValueError("Select or type the text to redact.")
    entity_type = (entity_type or "PII").strip().upper().replace(" ", "_")[:64]
    spans: list[tuple[int, str, int]] = []
    for index, place, value in iter_text_fields(pii_messages(conversation)):
        if message_index is not None and (index != message_index or place != field):
            continue
        if start is not None:
            if value[start : start + len(text)] != text:
                raise ValueError(
                    "The selected text is not at that place in the message; reload and try again."
                )
            spans.append((index, place, start))
            continue
        position = value.find(text)
        while position != -1:
            spans.append((index, place, position))
            position = value.find(text, position + len(text))
    if not spans:
        raise ValueError(f"{text!r} does not occur in this conversation.")
    now = timezone.now()
    with transaction.atomic():
        created = PiiFinding.objects.bulk_create(
            PiiFinding(
                conversation=conversation,
                message_index=index,
                field=place,
                start=offset,
                end=offset + len(text),
                entity_type=entity_type,
                score=1.0,
                source=FindingSource.REVIEWER,
                decision=FindingDecision.REDACT,
                decided_by=user,
                decided_at=now,
            )
            for index, place, offset in spans
        )
        refresh_redacted(conversation)
        AuditEvent.record(
            actor=user,
            action="pii.add",
            obj=conversation,
            dataset=conversation.dataset,
            entity_type=entity_type,
            occurrences=len(created),
        )
    return created


def rescan_messages(*, conversation: Conversation, message_indexes: list[int]) -> None:
    """Re-run detection on messages whose text changed (a reviewer's edit).

    Findings on those messages pointed into the old text, so all of them go, reviewers'
    included; the reviewer's own redactions on the edited text are made again if needed.
    """
    from curation.pii.engine import get_engine
    from curation.pii.redaction import iter_text_fields

    indexes = set(message_indexes)
    fields = [(i, f, t) for i, f, t in iter_text_fields(pii_messages(conversation)) if i in indexes]
    results = get_engine().analyze_texts(
        [text for _, _, text in fields], pii_config_for(conversation.dataset)
    )
    with transaction.atomic():
        PiiFinding.objects.filter(conversation=conversation, message_index__in=indexes).delete()
        PiiFinding.objects.bulk_create(
            PiiFinding(
                conversation=conversation,
                message_index=index,
                field=field,
                start=d.start,
                end=d.end,
                entity_type=d.entity_type,
                score=round(float(d.score), 4),
                source=FindingSource.DETECTOR,
            )
            for (index, field, _), detections in zip(fields, results, strict=True)
            for d in detections
        )
        refresh_redacted(conversation)


# -- retention ---------------------------------------------------------------------------


def purge_originals(
    *, dataset: Dataset, user: Any, conversation_ids: Iterable[int] | None = None
) -> int:
    """Drop the un-redacted text of approved conversations; the redacted copy stays."""
    conversations = dataset.conversations.filter(
        status=ConversationStatus.APPROVED, originals_purged_at__isnull=True
    ).select_related("dataset")
    if conversation_ids is not None:
        conversations = conversations.filter(pk__in=list(conversation_ids))
    purged = 0
    for conversation in conversations.iterator(chunk_size=500):
        with transaction.atomic():
            everything = _redacted_all(conversation)
            redacted = everything[: len(conversation.original)]
            # A pair's alternative reply is purged the same way: only its redacted copy stays.
            PreferencePair.objects.filter(conversation=conversation).update(
                alternative=everything[len(conversation.original) :]
            )
            Conversation.objects.filter(pk=conversation.pk).update(
                redacted=redacted,
                original=[],
                # The search index holds the original's words; they go with it.
                search_vector=None,
                originals_purged_at=timezone.now(),
                updated_at=timezone.now(),
            )
            # Findings point into the purged text; without it they are meaningless.
            PiiFinding.objects.filter(conversation=conversation).delete()
            purged += 1
    if purged:
        AuditEvent.record(actor=user, action="pii.purge", dataset=dataset, purged=purged)
    return purged


def purge_if_configured(*, conversation: Conversation, user: Any) -> None:
    """Called when a conversation is approved: honours 'purge originals after approval'."""
    if conversation.dataset.purge_originals_after_approval:
        purge_originals(dataset=conversation.dataset, user=user, conversation_ids=[conversation.pk])


# -- overview ----------------------------------------------------------------------------


def pii_overview(*, dataset: Dataset) -> dict[str, Any]:
    findings = PiiFinding.objects.filter(conversation__dataset=dataset)
    per_type = list(
        findings.values("entity_type")
        .annotate(
            total=Count("id"), redacted=Count("id", filter=Q(decision=FindingDecision.REDACT))
        )
        .order_by("-total")
    )
    top = (
        dataset.conversations.annotate(finding_count=Count("findings"))
        .filter(finding_count__gt=0)
        .order_by("-finding_count", "id")
        .only("id", "original", "redacted", "status", "dataset_id")[:10]
    )
    state = dataset.conversations.aggregate(
        conversations=Count("id"),
        pending=Count("id", filter=Q(status=ConversationStatus.PENDING_PII)),
        analyzed=Count("id", filter=Q(pii_run__isnull=False)),
    )
    totals = findings.aggregate(
        findings=Count("id"),
        redacted=Count("id", filter=Q(decision=FindingDecision.REDACT)),
        with_findings=Count("conversation_id", distinct=True),
    )
    return {
        **state,
        **totals,
        "unscanned": state["conversations"] - state["pending"] - state["analyzed"],
        "per_type": per_type,
        "top": list(top),
        "reviewer_added": findings.filter(source=FindingSource.REVIEWER).count(),
        "kept": findings.filter(decision=FindingDecision.KEEP).count(),
        "purged": dataset.conversations.filter(originals_purged_at__isnull=False).count(),
        "approved_unpurged": dataset.conversations.filter(
            status=ConversationStatus.APPROVED, originals_purged_at__isnull=True
        ).count(),
    }
