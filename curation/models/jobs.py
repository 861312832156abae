"""The durable job row pattern shared by every long task (imports, PII runs, snapshots, training).

A job row is the source of truth for a background task: the RQ job only carries its id.
Workers claim a row with a conditional UPDATE, beat its heartbeat while working and record
progress; a row whose heartbeat stops while running is taken as lost with its worker.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

logger = logging.getLogger(__name__)

WORKER_LOST = "worker lost: the job stopped sending heartbeats (was its worker killed?)"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class JobQuerySet(models.QuerySet):
    def active(self) -> JobQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)

    def stale(self) -> JobQuerySet:
        limit = timezone.now() - timedelta(seconds=settings.CURATOR_JOB_HEARTBEAT_TIMEOUT)
        return self.filter(status=JobStatus.RUNNING, heartbeat_at__lt=limit)

    def mark_lost(self) -> int:
        """Fail running rows whose heartbeat stopped; returns how many were marked."""
        return self.stale().update(
            status=JobStatus.FAILED, error=WORKER_LOST, finished_at=timezone.now()
        )


class Job(models.Model):
    """Abstract job fields and state transitions. Subclasses name their RQ function and queue."""

    job_function: ClassVar[str] = ""
    queue_name: ClassVar[str] = "default"

    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    rq_job_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        abstract = True

    # -- reading -----------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_lost(self) -> bool:
        if self.status != JobStatus.RUNNING or self.heartbeat_at is None:
            return False
        limit = timedelta(seconds=settings.CURATOR_JOB_HEARTBEAT_TIMEOUT)
        return timezone.now() - self.heartbeat_at > limit

    @property
    def can_retry(self) -> bool:
        return self.status == JobStatus.FAILED

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, int(100 * self.done / self.total))

    def refresh_lost(self) -> None:
        """Mark this row failed when its worker vanished; pages call this before showing it."""
        if type(self).objects.filter(pk=self.pk).mark_lost():
            self.refresh_from_db()

    # -- writing (each a conditional UPDATE so two workers never both own a row) --------
    def claim(self) -> bool:
        now = timezone.now()
        claimed = (
            type(self)
            .objects.filter(pk=self.pk, status=JobStatus.QUEUED)
            .update(
                status=JobStatus.RUNNING,
                started_at=now,
                heartbeat_at=now,
                finished_at=None,
                error="",
                attempts=models.F("attempts") + 1,
            )
        )
        if claimed:
            self.refresh_from_db()
        return bool(claimed)

    def beat(self, *, done: int | None = None, total: int | None = None, **fields: Any) -> None:
        values: dict[str, Any] = {"heartbeat_at": timezone.now(), **fields}
        if done is not None:
            values["done"] = done
        if total is not None:
            values["total"] = total
        type(self).objects.filter(pk=self.pk).update(**values)
        for name, value in values.items():
            setattr(self, name, value)

    def succeed(self, **fields: Any) -> None:
        self._finish(JobStatus.SUCCEEDED, **fields)

    def fail(self, error: str, **fields: Any) -> None:
        logger.warning("%s %s failed: %s", type(self).__name__, self.pk, error)
        self._finish(JobStatus.FAILED, error=error[:10000], **fields)

    def cancel(self) -> bool:
        cancelled = (
            type(self)
            .objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES)
            .update(status=JobStatus.CANCELLED, finished_at=timezone.now())
        )
        self.refresh_from_db()
        return bool(cancelled)

    def _finish(self, status: str, **fields: Any) -> None:
        values = {"status": status, "finished_at": timezone.now(), **fields}
        type(self).objects.filter(pk=self.pk).update(**values)
        for name, value in values.items():
            setattr(self, name, value)

    # -- scheduling ----------------------------------------------------------------------
    def enqueue(self) -> None:
        """Queue the worker function; django-rq sends it once the transaction commits."""
        import uuid

        import django_rq

        job_id = f"{self._meta.app_label}_{self._meta.model_name}-{self.pk}-{uuid.uuid4().hex[:12]}"
        type(self).objects.filter(pk=self.pk).update(rq_job_id=job_id)
        self.rq_job_id = job_id
        queue = django_rq.get_queue(self.queue_name)
        queue.enqueue(self.job_function, self.pk, job_id=job_id, job_timeout=queue._default_timeout)

    def retry(self) -> bool:
        """Put a failed row back on its queue; the job resumes from its checkpoint."""
        reset = (
            type(self)
            .objects.filter(pk=self.pk, status=JobStatus.FAILED)
            .update(status=JobStatus.QUEUED, error="", finished_at=None)
        )
        if reset:
            self.refresh_from_db()
            self.enqueue()
        return bool(reset)
