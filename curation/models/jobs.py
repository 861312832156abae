"""The durable job row pattern shared by every long task (imports, PII runs, versions, training).

A job row is the source of truth for a background task: the RQ job only carries its id.
Workers claim a row with a conditional UPDATE; from then on a timer thread beats its heartbeat
for as long as the claiming process lives (whatever one step of the work takes), and the work
records progress. A row whose heartbeat stops while running is taken as lost with its worker;
Retry refuses while the heartbeat is fresh, so two workers never hold one row. A queued row
whose RQ job is in no queue, registry or worker once the heartbeat timeout has passed since it
was queued (Redis lost it, or a worker took it and died before starting it) is lost too.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, ClassVar, Self, TypeVar

import django_rq
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.worker import Worker

logger = logging.getLogger(__name__)

Result = TypeVar("Result")
# What a job does with an error it expects (an invalid file, a provider that said no, an
# outage to wait out): mark the row failed or retryable, and say what the job returns then.
ErrorHandlers = Mapping[type[Exception], Callable[[Any], Result]]

WORKER_LOST = "worker lost: the job stopped sending heartbeats (was its worker killed?)"
QUEUE_UNREACHABLE = (
    "could not be queued: the task queue (Redis) did not answer ({error}). "
    "Nothing was lost; Retry once the queue is back."
)
JOB_VANISHED = (
    "lost while queued: its task is in no queue, registry or worker (Redis lost it, or a "
    "worker took it and died before starting it)"
)


def rq_job_present(queue_name: str, job_id: str) -> bool | None:
    """Whether RQ still holds this job: waiting in its queue, scheduled, deferred, started or
    a worker's current job. None when Redis cannot be asked (then nothing is marked lost)."""
    try:
        connection = django_rq.get_connection(queue_name)
        try:
            job = RQJob.fetch(job_id, connection=connection)
        except NoSuchJobError:
            return False
        status = job.get_status(refresh=False)
        queue = django_rq.get_queue(queue_name)
        if status == RQStatus.QUEUED:
            return connection.lpos(queue.key, job_id) is not None
        if status in (RQStatus.SCHEDULED, RQStatus.DEFERRED):
            registries = (ScheduledJobRegistry, DeferredJobRegistry)
            return any(job_id in kind(queue=queue) for kind in registries)
        if status == RQStatus.STARTED:
            if job_id in StartedJobRegistry(queue=queue):
                return True
            return any(
                worker.get_current_job_id() == job_id
                for worker in Worker.all(connection=connection)
            )
        # Finished, failed, stopped or cancelled with the row still queued: it never ran it.
        return False
    except (RedisError, OSError):
        return None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def unexpected_error(error: BaseException, then: str) -> str:
    """How a job names an error it did not expect, and what Retry does about it."""
    return f"unexpected error ({type(error).__name__}: {first_line(error)}); {then}"


def heartbeat_interval() -> float:
    """Seconds between timer beats: four beats fit in the time after which a job counts lost."""
    return max(0.2, settings.CURATOR_JOB_HEARTBEAT_TIMEOUT / 4)


def heartbeat_cutoff() -> Any:
    return timezone.now() - timedelta(seconds=settings.CURATOR_JOB_HEARTBEAT_TIMEOUT)


class _Heartbeat(threading.Thread):
    """Beats one claimed row while the thread that claimed it is alive and still owns it.

    Owning means: the row is running under the claim's attempt number. A row that was
    marked lost while this process was in fact alive (a step that held the interpreter past
    the timeout) is taken back, since the work goes on. Each beat uses a short-lived
    connection, so an idle heartbeat holds none.
    """

    def __init__(self, model: type[Job], pk: int, attempts: int) -> None:
        super().__init__(name=f"heartbeat-{model._meta.label_lower}-{pk}", daemon=True)
        self.model, self.pk, self.attempts = model, pk, attempts
        self.owner = threading.current_thread()
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(heartbeat_interval()):
                if not self.owner.is_alive() or not self.beat():
                    break
                connection.close()
        except Exception as error:
            # The work goes on; at worst its row is shown lost and a Retry resumes it.
            logger.warning("heartbeat of %s %s stopped: %s", self.model.__name__, self.pk, error)
        finally:
            connection.close()
            _HEARTBEATS.pop((self.model, self.pk), None)

    def beat(self) -> bool:
        rows = self.model.objects.filter(pk=self.pk, attempts=self.attempts)
        now = timezone.now()
        if rows.filter(status=JobStatus.RUNNING).update(heartbeat_at=now):
            return True
        revived = rows.filter(status=JobStatus.FAILED, error=WORKER_LOST).update(
            status=JobStatus.RUNNING, error="", finished_at=None, heartbeat_at=now
        )
        if revived:
            logger.warning(
                "%s %s was marked lost but its worker lives", self.model.__name__, self.pk
            )
        return bool(revived)


_HEARTBEATS: dict[tuple[type, int], _Heartbeat] = {}


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

    def stale(self) -> Self:
        return self.filter(status=JobStatus.RUNNING, heartbeat_at__lt=heartbeat_cutoff())

    def retryable(self) -> JobQuerySet:
        """Failed rows that no live worker holds.

        A row failed as "worker lost" whose heartbeat has since moved again still has its
        worker (it was only slow to beat): Retry waits until that heartbeat is stale.
        """
        held = Q(error=WORKER_LOST, heartbeat_at__gte=heartbeat_cutoff())
        return self.filter(status=JobStatus.FAILED).exclude(held)

    def vanished_candidates(self) -> JobQuerySet:
        """Queued rows sent to RQ longer ago than the heartbeat timeout (`enqueue` stamps
        `heartbeat_at`; older rows fall back to when they were created)."""
        cutoff = heartbeat_cutoff()
        return (
            self.filter(status=JobStatus.QUEUED)
            .exclude(rq_job_id="")
            .filter(
                Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
            )
        )

    def mark_lost(self) -> int:
        """Fail rows whose work is gone: running rows whose heartbeat stopped, and queued rows
        whose RQ job is nowhere; returns how many were marked."""
        now = timezone.now()
        marked = self.stale().update(status=JobStatus.FAILED, error=WORKER_LOST, finished_at=now)
        for row in self.vanished_candidates():
            if rq_job_present(row.queue_name, row.rq_job_id) is False:
                marked += (
                    type(row)
                    .objects.filter(pk=row.pk, status=JobStatus.QUEUED, rq_job_id=row.rq_job_id)
                    .update(status=JobStatus.FAILED, error=JOB_VANISHED, finished_at=now)
                )
        return marked


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
    def shown_status(self) -> str:
        """The status pages show: a lost row reads as failed from its heartbeat age, without a
        write, whether or not the periodic `mark_lost_jobs` has run since."""
        return JobStatus.FAILED if self.is_lost else self.status

    @property
    def shown_status_label(self) -> str:
        return str(JobStatus(self.shown_status).label)

    @property
    def shown_error(self) -> str:
        return WORKER_LOST if self.is_lost else self.error

    @property
    def queued_long(self) -> bool:
        """Queued for longer than the heartbeat timeout: its task may have vanished, so Retry
        is offered (it checks RQ and refuses while the task still waits in its queue)."""
        if self.status != JobStatus.QUEUED or not self.rq_job_id:
            return False
        since = self.heartbeat_at or self.created_at
        return since is not None and since < heartbeat_cutoff()

    @property
    def can_retry(self) -> bool:
        if self.is_lost or self.queued_long:
            return True
        if self.status != JobStatus.FAILED:
            return False
        held = self.error == WORKER_LOST and (
            self.heartbeat_at is not None and self.heartbeat_at >= heartbeat_cutoff()
        )
        return not held

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, int(100 * self.done / self.total))

    def refresh_lost(self) -> None:
        """Mark this row failed when its worker vanished (a write: POSTs and workers only)."""
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
            self.start_heartbeat()
        return bool(claimed)

    def run_claimed(
        self,
        work: Callable[[], Result],
        *,
        unexpected: Callable[[Exception], str],
        handlers: ErrorHandlers[Result] | None = None,
        **fail_fields: Any,
    ) -> Result | None:
        """Claim this row and run ``work`` under :meth:`run_guarded`; None when the row was
        not claimable (already running, finished or cancelled: a duplicate delivery)."""
        if not self.claim():
            logger.info("%s %s is %s; nothing to do", type(self).__name__, self.pk, self.status)
            return None
        return self.run_guarded(work, unexpected=unexpected, handlers=handlers, **fail_fields)

    def run_guarded(
        self,
        work: Callable[[], Result],
        *,
        unexpected: Callable[[Exception], str],
        handlers: ErrorHandlers[Result] | None = None,
        **fail_fields: Any,
    ) -> Result:
        """Run ``work`` for this (already claimed) row and return what it returns.

        An error whose class is a key of ``handlers`` goes to its handler (which marks the row
        failed or retryable) and the handler's answer is returned. Any other error marks the
        row failed with ``unexpected(error)`` and ``fail_fields`` and is raised again, so the
        RQ job fails too and its traceback is kept: the row never stays "running".
        """
        try:
            return work()
        except Exception as error:
            for kind, handle in (handlers or {}).items():
                if isinstance(error, kind):
                    return handle(error)
            logger.exception("%s %s failed", type(self).__name__, self.pk)
            self.fail(unexpected(error), **fail_fields)
            raise

    def start_heartbeat(self) -> None:
        """Beat this claimed row from a timer thread until it finishes or this process ends."""
        if not settings.CURATOR_JOB_TIMER_HEARTBEATS:
            return
        key = (type(self), self.pk)
        self.stop_heartbeat()
        heartbeat = _Heartbeat(type(self), self.pk, self.attempts)
        _HEARTBEATS[key] = heartbeat
        heartbeat.start()

    def stop_heartbeat(self) -> None:
        heartbeat = _HEARTBEATS.pop((type(self), self.pk), None)
        if heartbeat is not None:
            heartbeat.stopped.set()

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
        self.stop_heartbeat()
        self._finish(JobStatus.SUCCEEDED, **fields)

    def fail(self, error: str, **fields: Any) -> None:
        self.stop_heartbeat()
        logger.warning("%s %s failed: %s", type(self).__name__, self.pk, error)
        self._finish(JobStatus.FAILED, error=error[:10000], **fields)

    def cancel(self) -> bool:
        self.stop_heartbeat()
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
        """Queue the worker function once the surrounding transaction commits.

        Every job is queued through here. If Redis cannot take the message, the committed row
        is marked failed with that reason (and Retry puts it back) instead of answering 500
        and leaving it "Queued" with nothing to run it.
        """
        job_id = f"{self._meta.app_label}_{self._meta.model_name}-{self.pk}-{uuid.uuid4().hex[:12]}"
        # heartbeat_at stamps when it was queued: a queued row whose task vanishes counts as
        # lost a heartbeat timeout later (`mark_lost`).
        now = timezone.now()
        type(self).objects.filter(pk=self.pk).update(rq_job_id=job_id, heartbeat_at=now)
        self.rq_job_id, self.heartbeat_at = job_id, now
        transaction.on_commit(lambda: self._send(job_id))

    def _send(self, job_id: str) -> None:
        try:
            queue = django_rq.get_queue(self.queue_name, commit_mode="auto")
            queue.enqueue(
                self.job_function, self.pk, job_id=job_id, job_timeout=queue._default_timeout
            )
        except (RedisError, OSError) as error:
            logger.error("%s %s could not be queued: %s", type(self).__name__, self.pk, error)
            failed = (
                type(self)
                .objects.filter(pk=self.pk, status=JobStatus.QUEUED, rq_job_id=job_id)
                .update(
                    status=JobStatus.FAILED,
                    error=QUEUE_UNREACHABLE.format(error=error),
                    finished_at=timezone.now(),
                )
            )
            if failed:
                self.refresh_from_db()

    def retry(self) -> bool:
        """Put a failed row back on its queue; the job resumes from its checkpoint.

        Refused while the row's heartbeat is fresh: a worker still holds it. A lost row that
        the periodic job has not marked yet is marked first.
        """
        type(self).objects.filter(pk=self.pk).mark_lost()
        reset = (
            type(self)
            .objects.retryable()
            .filter(pk=self.pk)
            .update(status=JobStatus.QUEUED, error="", finished_at=None)
        )
        if reset:
            self.refresh_from_db()
            self.enqueue()
        return bool(reset)
