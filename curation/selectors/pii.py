"""What the PII overview page shows of a dataset: findings per type, the conversations with
the most of them, how much is scanned, kept and purged."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from curation.models import (
    ConversationStatus,
    Dataset,
    FindingDecision,
    FindingSource,
    PiiFinding,
    PiiRun,
)


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


def approved_unpurged_count(dataset: Dataset) -> int:
    """Approved conversations whose originals are still kept (what a purge would drop)."""
    return dataset.conversations.filter(
        status=ConversationStatus.APPROVED, originals_purged_at__isnull=True
    ).count()


# Detection runs the overview lists, latest first.
RUN_HISTORY = 20


def recent_runs(dataset: Dataset) -> list[PiiRun]:
    return list(dataset.pii_runs.select_related("created_by")[:RUN_HISTORY])
