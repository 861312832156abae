"""The worker flow of a fine-tune: upload the files, create the remote job once, follow it.

Each RQ job (the first run, then every scheduled continuation) does what it can now and
schedules the next look with rq's scheduler: a poll while the remote job is active, or a
backoff after a transient failure. A row is owned by one chain of continuations (its
``chain`` token), so a retry, a duplicate delivery or a stray continuation never starts a
second one. The remote job is created at most once per row: the creation runs under a row
lock and first looks for a remote job tagged with the row's uid, which is what a create
whose reply was lost left behind.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import django_rq
from django.db import transaction
from django.utils import timezone

from curation.models import JobStatus, VersionFormat
from curation.models.jobs import unexpected_error
from training.models import FineTuneJob
from training.providers import (
    PermanentProviderError,
    Provider,
    TransientProviderError,
    get_provider,
)
from training.providers.base import METADATA_TAG
from training.providers.files import FileRefused, convert_file, converts
from training.services import config
from training.services.local.handoff import step_local
from training.services.retry import Schedule, Step, retry_later
from training.services.sync import sync_finetune, timeline_key
from training.services.version_files import LaunchError, copy_verified

logger = logging.getLogger(__name__)


def schedule_continuation(job: FineTuneJob, delay: float) -> None:
    """Queue the next step of the job's chain in ``delay`` seconds (rq's scheduler)."""
    queue = django_rq.get_queue(job.queue_name)
    rq_id = f"training_finetune-{job.pk}-{uuid.uuid4().hex[:12]}"

    def send() -> None:
        queue.enqueue_in(
            timedelta(seconds=delay),
            "training.jobs.continue_finetune",
            job.pk,
            job.chain,
            job_id=rq_id,
            job_timeout=queue._default_timeout,
        )

    transaction.on_commit(send)


def _load(job_id: int) -> FineTuneJob:
    return FineTuneJob.objects.select_related("dataset", "version", "version__dataset").get(
        pk=job_id
    )


def run_finetune_job(*, job_id: int, schedule: Schedule = schedule_continuation) -> float | None:
    """Claim a queued row and start its chain; returns the delay of the next step, if any."""
    job = _load(job_id)
    if not job.claim():
        logger.info("fine-tune %s is %s; nothing to do", job_id, job.status)
        return None
    job.beat(chain=uuid.uuid4().hex, next_check_at=None, transient_failures=0, last_problem="")
    return step_finetune(job=job, schedule=schedule)


def continue_finetune_job(
    *, job_id: int, chain: str, schedule: Schedule = schedule_continuation
) -> float | None:
    """A scheduled step: carries on only if the row is still running under this chain."""
    job = _load(job_id)
    if job.status != JobStatus.RUNNING or job.chain != chain:
        logger.info("fine-tune %s: continuation of an old chain or a finished job", job_id)
        return None
    return step_finetune(job=job, schedule=schedule)


def step_remote(*, job: FineTuneJob, schedule: Schedule) -> float | None:
    """Upload, create or follow the remote job; schedule (and return) the next step's delay."""

    def given_up(error: PermanentProviderError) -> None:
        job.fail(str(error), error_code=error.code or "provider_error")

    def refused(error: LaunchError) -> None:
        job.fail(str(error), error_code="invalid_version")

    return job.run_guarded(
        lambda: _follow(job=job, schedule=schedule),
        handlers={
            TransientProviderError: lambda error: retry_later(
                job=job, error=error, schedule=schedule
            ),
            PermanentProviderError: given_up,
            LaunchError: refused,
        },
        unexpected=lambda error: unexpected_error(error, "Retry resumes where it stopped"),
        error_code="internal_error",
    )


def _follow(*, job: FineTuneJob, schedule: Schedule) -> float | None:
    if advance_finetune(job=job):
        return None
    job.refresh_from_db(fields=["status"])
    if job.status != JobStatus.RUNNING:
        return None
    polls = job.polls + 1
    delay = config.poll_delay(polls)
    job.beat(
        polls=polls,
        transient_failures=0,
        last_problem="",
        next_check_at=timezone.now() + timedelta(seconds=delay),
    )
    schedule(job, delay)
    return delay


# A job's chain by its kind: hosted jobs are uploaded and followed at their provider; local
# ones are handed to the GPU queue (``training.services.local``).
STEPS: dict[str, Step] = {"remote": step_remote, "local": step_local}


def step_finetune(*, job: FineTuneJob, schedule: Schedule) -> float | None:
    """Advance the job as far as it goes now; schedule (and return) the next step's delay."""
    return STEPS[job.kind](job=job, schedule=schedule)


def advance_finetune(*, job: FineTuneJob) -> bool:
    """Upload, create, sync — whichever steps remain. True once the job has ended."""
    provider = get_provider(job.provider)
    if not job.remote_job_id:
        upload_files(job=job, provider=provider)
        if not create_remote_job(job=job, provider=provider):
            return True
    return sync_finetune(job=job, provider=provider)


def _needed_files(job: FineTuneJob) -> list[tuple[str, str]]:
    files = [("train.jsonl", "remote_training_file")]
    if job.version.validation_examples and job.version.file_info("validation.jsonl"):
        files.append(("validation.jsonl", "remote_validation_file"))
    return files


@contextmanager
def materialized(job: FineTuneJob, name: str) -> Iterator[Path]:
    """The version's file copied to a local temporary path, checked against its sha256,
    then converted to what the job's provider accepts (``training.providers.files``).

    Copying (rather than handing the storage path over) means the bytes uploaded are the
    bytes hashed, for local and remote storage alike. The name tells whoever lists the
    files at the provider which dataset, version and job an upload belongs to.
    """
    version = job.version
    info = version.file_info(name)
    if info is None:
        raise LaunchError([f"{version.download_name(name)} is missing from the version's files"])
    with tempfile.TemporaryDirectory(prefix="curator-finetune-") as folder:
        stem = f"{version.dataset.slug}-v{version.number}-ft{job.pk}"
        path = Path(folder) / f"{stem}-{name}"
        copy_verified(version, name, info, path, outcome="Nothing was uploaded.")
        if converts(job.provider_kind):
            source, path = path, Path(folder) / f"{stem}-{job.provider_kind}-{name}"
            try:
                conversion = convert_file(
                    job.provider_kind,
                    source,
                    path,
                    name=version.download_name(name),
                    preference=version.format == VersionFormat.PREFERENCE,
                )
            except FileRefused as error:
                raise LaunchError([*error.problems, "Nothing was uploaded."]) from None
            job.record_upload(name, conversion.summary())
        yield path


def upload_files(*, job: FineTuneJob, provider: Provider) -> None:
    """Upload the files not uploaded yet, storing each id as soon as the provider gives it,
    then wait until the provider has processed them all."""
    needed = _needed_files(job)
    missing = [(name, field) for name, field in needed if not getattr(job, field)]
    if missing:
        job.add_timeline("uploading")
    for name, field in missing:
        with materialized(job, name) as path:
            job.beat()
            # If the reply to this call is lost (timeout, dropped connection), the provider
            # may keep an upload we never learn the id of: the retry uploads again, leaving
            # an orphan file at the provider. Files are not billed and nothing refers to
            # the orphan, so that is accepted; the name above says where it came from.
            provider.check_file(path)
            remote = provider.upload_file(path, purpose="fine-tune")
        stored = FineTuneJob.objects.filter(pk=job.pk, **{field: ""}).update(**{field: remote.id})
        if stored:
            setattr(job, field, remote.id)
        else:
            job.refresh_from_db()
    for _name, field in needed:
        provider.wait_for_file(
            getattr(job, field),
            timeout=config.value("CURATOR_TRAINING_FILE_WAIT_SECONDS"),
            poll_interval=2.0,
        )
        job.beat()
    if missing:
        job.add_timeline("uploaded")


def _remote_metadata(job: FineTuneJob) -> dict[str, str]:
    return {
        METADATA_TAG: str(job.uid),
        "curator_job": str(job.pk),
        "curator_dataset": job.dataset.slug[:512],
        "curator_version": str(job.version.number),
    }


def _hyperparameters(job: FineTuneJob) -> dict[str, int | float | bool] | None:
    # "auto" is the provider's default: send only what was chosen.
    chosen = {k: v for k, v in job.hyperparameters.items() if not isinstance(v, str)}
    return chosen or None


def create_remote_job(*, job: FineTuneJob, provider: Provider) -> bool:
    """Create the remote job unless it exists; False if the row was cancelled first.

    The row stays locked from the lookup until the id is stored, so a cancel (or a second
    worker on a retried row) waits for the outcome instead of racing it. If this worker
    dies mid-way the lock goes with its connection, and the next attempt's lookup finds
    the job the provider may already have created.
    """
    with transaction.atomic():
        locked = FineTuneJob.objects.select_for_update().get(pk=job.pk)
        if locked.remote_job_id:
            job.remote_job_id = locked.remote_job_id
            return True
        if locked.status != JobStatus.RUNNING or locked.chain != job.chain:
            logger.info(
                "fine-tune %s was %s before its remote job was created", job.pk, locked.status
            )
            return False
        remote = provider.find_job_by_metadata(METADATA_TAG, str(job.uid))
        if remote is None:
            remote = provider.create_job(
                model=job.base_model,
                training_file=job.remote_training_file,
                validation_file=job.remote_validation_file or None,
                hyperparameters=_hyperparameters(job),
                suffix=job.suffix or None,
                seed=job.seed,
                metadata=_remote_metadata(job),
                method=job.method,
            )
        else:
            logger.info("fine-tune %s: found remote job %s by its tag", job.pk, remote.id)
        FineTuneJob.objects.filter(pk=job.pk).update(
            remote_job_id=remote.id, remote_status=remote.status, heartbeat_at=timezone.now()
        )
    job.remote_job_id = remote.id
    job.remote_status = remote.status
    job.add_timeline("created")
    job.add_timeline(timeline_key(remote.status))
    return True


def drive_finetune(
    *, job_id: int, sleep: Callable[[float], None] = time.sleep, max_steps: int = 100000
) -> FineTuneJob:
    """Run a queued job to its end in this process (``manage.py finetune --wait``, tests):
    the same steps as the worker, with ``sleep`` standing in for the scheduler."""
    pending: list[float] = []

    def schedule(_job: FineTuneJob, delay: float) -> None:
        pending.append(delay)

    delay = run_finetune_job(job_id=job_id, schedule=schedule)
    for _ in range(max_steps):
        job = FineTuneJob.objects.get(pk=job_id)
        if job.is_local and delay is None and job.status == JobStatus.RUNNING:
            # A GPU worker trains it now, on its own: follow the row until it ends.
            job.refresh_lost()
            if job.status == JobStatus.RUNNING:
                sleep(config.value("CURATOR_TRAINING_POLL_SECONDS"))
                continue
        if delay is None or job.status != JobStatus.RUNNING:
            return job
        sleep(delay)
        delay = continue_finetune_job(job_id=job_id, chain=job.chain, schedule=schedule)
    return FineTuneJob.objects.get(pk=job_id)
