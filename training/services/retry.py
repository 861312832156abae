"""Waiting out a transient failure of a fine-tune's chain (a provider outage, Redis gone for a
moment): count it, schedule the next try with backoff, or give up after too many in a row.

Shared by the remote flow (``runner``) and the local one (``local.handoff``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from training.models import FineTuneJob
from training.providers import TransientProviderError
from training.services import config

logger = logging.getLogger(__name__)

# How a chain queues its next step: the worker's rq scheduler, or a list in ``--wait`` runs.
Schedule = Callable[[FineTuneJob, float], None]
# One step of a job's chain; the delay of the next step, None when none follows.
Step = Callable[..., float | None]


def retry_later(
    *, job: FineTuneJob, error: TransientProviderError, schedule: Schedule
) -> float | None:
    """Schedule the next try after ``error``; None once the job gave up (marked failed)."""
    failures = job.transient_failures + 1
    following = bool(job.remote_job_id)
    limit = int(
        config.value(
            "CURATOR_TRAINING_MAX_POLL_FAILURES" if following else "CURATOR_TRAINING_MAX_ATTEMPTS"
        )
    )
    if failures >= limit:
        resume = (
            "Retry resumes following the remote job"
            if following
            else "Retry resumes the launch (uploaded files are reused)"
        )
        job.fail(
            f"{error} — gave up after {failures} attempts in a row; {resume}",
            error_code=error.code or "transient_error",
            transient_failures=failures,
        )
        return None
    # A little jitter, so jobs hit by the same outage do not all come back at once.
    delay = config.retry_delay(failures, error.retry_after) * random.uniform(1.0, 1.1)
    job.beat(
        transient_failures=failures,
        last_problem=f"{error} — trying again in {delay:.0f} s (attempt {failures + 1} of {limit})",
        next_check_at=timezone.now() + timedelta(seconds=delay),
    )
    logger.info("fine-tune %s: %s; retrying in %.1fs", job.pk, error, delay)
    schedule(job, delay)
    return delay
