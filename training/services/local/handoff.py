"""The "training" queue's part of a local fine-tune: hand the row to the GPU queue, then wait.

The job's chain claims the row as for every provider, then hands it to the GPU queue once
per chain (the RQ job id carries the chain token, so a duplicate delivery or a stray
continuation never queues a second one) and polls, beating the heartbeat, until a GPU worker
takes it: a job may wait hours for a busy GPU without being taken for lost. The poll also
says on the page why it waits (no GPU worker alive, jobs ahead of it). What the GPU worker
does is ``training.services.local.gpu_job``.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob

from curation.models import JobStatus
from curation.models.jobs import unexpected_error
from training.models import FineTuneJob
from training.providers import (
    LocalBackend,
    PermanentProviderError,
    TransientProviderError,
    get_local_backend,
)
from training.services import config
from training.services.retry import Schedule, retry_later

GPU_JOB_FUNCTION = "training.local_jobs.run_local_training"


def gpu_job_id(job_id: int, chain: str) -> str:
    # One GPU job per chain: queuing it twice under the same id would replace, not add.
    return f"training_local-{job_id}-{chain[:12]}"


def local_backend(job: FineTuneJob) -> LocalBackend:
    return get_local_backend(job.provider)


def step_local(*, job: FineTuneJob, schedule: Schedule) -> float | None:
    """One step of the training-queue chain of a local job; the next poll's delay, if any."""

    def given_up(error: PermanentProviderError) -> None:
        job.fail(str(error), error_code=error.code or "provider_error")

    return job.run_guarded(
        lambda: _poll(job=job, schedule=schedule),
        handlers={
            TransientProviderError: lambda error: retry_later(
                job=job, error=error, schedule=schedule
            ),
            PermanentProviderError: given_up,
        },
        unexpected=lambda error: unexpected_error(
            error, "Retry hands the job to a GPU worker again"
        ),
        error_code="internal_error",
    )


def _poll(*, job: FineTuneJob, schedule: Schedule) -> float | None:
    finished, note = advance_local(job=job, backend=local_backend(job))
    if finished:
        return None
    polls = job.polls + 1
    delay = config.poll_delay(polls)
    # Only while no GPU worker has taken the row: once one has, its heartbeats alone
    # must keep the row alive, or a killed GPU worker would never show as lost.
    waiting = FineTuneJob.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, chain=job.chain, remote_status="queued"
    ).update(
        heartbeat_at=timezone.now(),
        polls=polls,
        transient_failures=0,
        last_problem=note,
        next_check_at=timezone.now() + timedelta(seconds=delay),
    )
    if not waiting:
        return None
    job.polls = polls
    schedule(job, delay)
    return delay


def advance_local(*, job: FineTuneJob, backend: LocalBackend) -> tuple[bool, str]:
    """Queue the GPU job for this chain unless done; (finished here, why it still waits)."""
    rq_id = gpu_job_id(job.pk, job.chain)
    try:
        if job.remote_job_id != rq_id:
            if not hand_off(job=job, backend=backend, rq_id=rq_id):
                return True, ""
            return False, waiting_note(backend, rq_id)
        job.refresh_from_db(fields=["status", "remote_status"])
        if job.status != JobStatus.RUNNING or job.remote_status != "queued":
            return True, ""  # cancelled, or a GPU worker owns the row now
        state = _rq_status(backend, rq_id)
        if state is None:
            # Queued after commit but lost before it reached Redis (or Redis was flushed):
            # queue it again; the GPU job's conditional claim makes a duplicate harmless.
            _enqueue(backend, job_id=job.pk, chain=job.chain, rq_id=rq_id)
        elif state in ("failed", "stopped", "canceled"):
            reason = _rq_failure(backend, rq_id) or f"its RQ job is {state}"
            job.fail(
                f"a GPU worker could not start the training ({reason}); Retry queues it again",
                error_code="gpu_job_failed",
            )
            return True, ""
        return False, waiting_note(backend, rq_id)
    except RedisError as error:
        raise TransientProviderError(f"cannot reach Redis ({error})") from None


def hand_off(*, job: FineTuneJob, backend: LocalBackend, rq_id: str) -> bool:
    """Record the GPU job on the row and queue it once the row is committed; False if the
    row was cancelled (or taken by another chain) first."""
    with transaction.atomic():
        locked = FineTuneJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != JobStatus.RUNNING or locked.chain != job.chain:
            return False
        FineTuneJob.objects.filter(pk=job.pk).update(
            remote_job_id=rq_id, remote_status="queued", heartbeat_at=timezone.now()
        )
        transaction.on_commit(
            lambda: _enqueue(backend, job_id=job.pk, chain=job.chain, rq_id=rq_id)
        )
    job.remote_job_id = rq_id
    job.remote_status = "queued"
    job.add_timeline("gpu_queued")
    return True


def _enqueue(backend: LocalBackend, *, job_id: int, chain: str, rq_id: str) -> None:
    queue = backend.queue()
    queue.enqueue(GPU_JOB_FUNCTION, job_id, chain, job_id=rq_id, job_timeout=queue._default_timeout)


def _rq_status(backend: LocalBackend, rq_id: str) -> str | None:
    try:
        status = RQJob.fetch(rq_id, connection=backend.queue().connection).get_status()
    except NoSuchJobError:
        return None
    return str(getattr(status, "value", status)) if status is not None else None


def _rq_failure(backend: LocalBackend, rq_id: str) -> str:
    try:
        result = RQJob.fetch(rq_id, connection=backend.queue().connection).latest_result()
    except Exception:  # the reason is a courtesy; the failure stands without it
        return ""
    text = (getattr(result, "exc_string", "") or "").strip()
    return text.splitlines()[-1][:300] if text else ""


def waiting_note(backend: LocalBackend, rq_id: str) -> str:
    """What the job page says while the job waits for a GPU worker."""
    workers = backend.gpu_workers()
    if not workers:
        return (
            f"Waiting for a GPU worker: none is listening on the {backend.queue_name} queue "
            f"(start one with `manage.py rqworker {backend.queue_name}`)."
        )
    position = backend.queue().get_job_position(rq_id)
    ahead = f"; {position} job{'s' if position != 1 else ''} ahead of it" if position else ""
    count = len(workers)
    return f"Waiting for a free GPU worker ({count} listening on {backend.queue_name}{ahead})."
