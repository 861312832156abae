"""The RQ worker class: loads heavy models once in the parent, before jobs are forked.

RQ runs each job in a forked child, so anything a job loads is thrown away when it ends.
Loading the spaCy/Presidio engine or tiktoken's ranks in every job would cost seconds per
job; loaded here, every child shares them copy-on-write.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from django.db import connections
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.job import Job
from rq.queue import Queue
from rq.scheduler import RQScheduler
from rq.worker import Worker

from curation.lifelines import die_with_parent
from curation.periodic import lost_jobs_mark_at_start, lost_jobs_schedule
from curation.pii.config import PiiConfig
from curation.pii.engine import get_engine
from curation.services.pii.cache import settings_fingerprint
from curation.token_count import get_counter
from training.local import is_available as local_training_available

logger = logging.getLogger(__name__)


class _Scheduler(RQScheduler):
    """RQ's scheduler process, which dies with the worker that forked it: left running after
    its worker was killed outright, it would keep the scheduler lock from the next worker."""

    def start(self) -> Any:
        self._worker_pid = os.getpid()
        return super().start()

    def _install_signal_handlers(self) -> None:
        # The first thing the forked scheduler process does.
        die_with_parent(self._worker_pid)
        super()._install_signal_handlers()


class CuratorWorker(Worker):
    def work(self, *args: Any, **kwargs: Any) -> bool:
        # A long-lived worker marks what a dead predecessor lost as it starts (in this
        # process: no scheduler lock or queue needed), and one that runs the scheduler keeps the periodic
        # marking going (it reschedules itself); a burst worker is one-off and starts nothing.
        if not kwargs.get("burst") and "default" in self.queue_names():
            lost_jobs_mark_at_start()
            if kwargs.get("with_scheduler"):
                lost_jobs_schedule()
        return super().work(*args, **kwargs)

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ's own, with a scheduler whose process dies with this worker."""
        self.scheduler = _Scheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        names = set(self.queue_names())
        # Loaded before RQ's own bootstrap, which starts its pub/sub thread: with one thread
        # the engine's loader has no one to race and skips importing scipy.stats (about 0.7 s
        # of CPU, a sixth of a pii worker's start-up). The worker registers once ready.
        if names & {"default", "pii"}:
            get_counter()
        if "pii" in names:
            get_engine()
            # The detector's code and package versions are read here once, not per job.
            settings_fingerprint(PiiConfig())
        super().bootstrap(*args, **kwargs)
        self.worker_pid = os.getpid()
        if "pii" in names:
            logger.info("PII engine loaded for %s", self.name)
        # Nothing is preloaded for GPU jobs: torch is imported (and CUDA set up) in the forked
        # job itself, since CUDA does not survive a fork. Only say early when the jobs would
        # fail for want of the extra.
        if "training-gpu" in names and not local_training_available():
            logger.warning(
                "%s listens on training-gpu but the local-training extra is missing: "
                "pip install -e '.[local-training]'",
                self.name,
            )
        # Nothing loaded above may hold a database connection into the forked children.
        connections.close_all()
        # A psycopg pool (CURATOR_DB_POOL_SIZE) must not be inherited by forked children
        # either: its sockets and threads belong to this process.
        # (Only an existing pool: reading `.pool` would open one.)
        for connection in connections.all(initialized_only=True):
            if connection.alias in getattr(connection, "_connection_pools", {}):
                # Only PostgreSQL's wrapper keeps pools, and has close_pool().
                connection.close_pool()  # type: ignore[attr-defined]

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        # RQ puts the work horse in a process group of its own, so a worker killed outright
        # (kill -9, an OOM kill) would leave it running: still beating the job's heartbeat
        # (never shown lost, no Retry) and, for a GPU job, still training. It dies with its
        # worker instead, and takes its training process group with it (the ranks watch it).
        die_with_parent(self.worker_pid)
        super().main_work_horse(job, queue)
