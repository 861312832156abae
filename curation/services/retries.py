"""Actions on any durable job row that the pages offer, with their audit events."""

from __future__ import annotations

from typing import Any

from curation.models import AuditEvent, Dataset, Job


def job_retry(*, job: Job, dataset: Dataset, action: str, user: Any) -> bool:
    """Put a failed row back on its queue and record ``action``; False when it cannot be
    retried (not failed, or a live worker still holds it)."""
    if not job.retry():
        return False
    AuditEvent.record(actor=user, action=action, obj=job, dataset=dataset)
    return True
