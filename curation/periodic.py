"""The periodic RQ job that marks lost jobs, and how it keeps itself scheduled.

No extra daemon: a worker started with `--with-scheduler` schedules the first run as it
boots (`curation.worker.CuratorWorker`), and each run schedules the next before it works,
so a failed run does not end the chain. Every long-lived worker on the default queue also
queues one run at once as it boots (`lost_jobs_run_now`): that needs no scheduler, so a
restarted worker marks what its predecessor lost before RQ hands it the scheduler lock (the
dead worker's lock must expire first). Runs fall on a wall-clock grid of
`CURATOR_LOST_JOBS_INTERVAL` seconds and each slot has a fixed RQ job id: however many
workers boot, one run per slot is queued (scheduling a slot again replaces it).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import django_rq
from django.conf import settings
from rq.job import Job as RQJob

from curation.services.lost_jobs import lost_jobs_mark

logger = logging.getLogger(__name__)

QUEUE_NAME = "default"
JOB_ID_PREFIX = "curation-mark-lost-jobs-"


def next_slot(*, now: float, interval: int) -> int:
    """The next grid slot strictly after `now` (slot n runs at n * interval seconds)."""
    return int(now // interval) + 1


def lost_jobs_schedule(*, now: float | None = None) -> RQJob | None:
    """Schedule the next run on the grid; None when the interval is 0 (switched off)."""
    interval = settings.CURATOR_LOST_JOBS_INTERVAL
    if interval <= 0:
        return None
    slot = next_slot(now=time.time() if now is None else now, interval=interval)
    queue = django_rq.get_queue(QUEUE_NAME)
    return queue.enqueue_at(
        datetime.fromtimestamp(slot * interval, tz=UTC),
        mark_lost_jobs,
        job_id=f"{JOB_ID_PREFIX}{slot}",
        result_ttl=0,
        description="mark jobs whose worker stopped beating as lost",
    )


def lost_jobs_mark_at_start() -> dict[str, int]:
    """One marking in the starting worker's own process, before it takes any job. Not a
    queued run: a worker killed while it waited on the queue can still take a task pushed
    just after its death (Redis has not yet seen its socket close), and lose it."""
    try:
        marked = lost_jobs_mark()
    except Exception:
        logger.exception("marking lost jobs at worker start failed; the periodic run will")
        return {}
    if marked:
        logger.warning("marked lost at worker start: %s", marked)
    return marked


def mark_lost_jobs() -> dict[str, int]:
    """RQ entry point: schedule the next run, then mark this run's lost jobs."""
    lost_jobs_schedule()
    marked = lost_jobs_mark()
    if marked:
        logger.warning("marked lost (no heartbeat): %s", marked)
    return marked
