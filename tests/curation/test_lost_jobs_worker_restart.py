"""After any worker restart, lost jobs are marked at once: a worker marks them itself as it
starts, so it need not wait for a scheduler lock its dead predecessor still holds; and the
dead worker's scheduler process does not outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone

from curation.models import ImportBatch, JobStatus
from curation.models.jobs import WORKER_LOST
from tests.conftest import ROOT, WORKER_START, database_url
from tests.factories import ImportBatchFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def start_worker() -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        # No slot of the periodic grid falls within the test: only the start-up run can mark.
        "CURATOR_LOST_JOBS_INTERVAL": "3600",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default", "--with-scheduler", *WORKER_START],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stale_batch(dataset) -> ImportBatch:  # type: ignore[no-untyped-def]
    batch = ImportBatchFactory(dataset=dataset)
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    return batch


def alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked_within(batch: ImportBatch, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = ImportBatch.objects.get(pk=batch.pk)
        if row.status == JobStatus.FAILED:
            return row.error == WORKER_LOST
        time.sleep(0.5)
    return False


def test_each_started_worker_marks_lost_jobs_without_waiting_for_the_schedule(
    dataset, clear_queues
):
    first = stale_batch(dataset)
    worker = start_worker()
    try:
        assert marked_within(first, 60)
        deadline = time.monotonic() + 30
        while not psutil.Process(worker.pid).children() and time.monotonic() < deadline:
            time.sleep(0.2)
        [scheduler] = psutil.Process(worker.pid).children()
        # Killed outright: its scheduler lock stays behind until it expires, but its
        # scheduler process dies with it.
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        deadline = time.monotonic() + 20
        while alive(scheduler) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(scheduler)
        second = stale_batch(dataset)
        worker = start_worker()
        assert marked_within(second, 60)
    finally:
        worker.kill()
        worker.wait(timeout=30)
