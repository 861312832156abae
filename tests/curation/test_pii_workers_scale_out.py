"""Several `pii` worker processes share one run: each chunk is claimed once, a killed
worker's chunk is analysed again after Retry, and the run's counts are exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import django_rq
import pytest
from django.db import connection
from django.utils import timezone
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from curation.models import Conversation, ConversationStatus, JobStatus, PiiFinding, PiiRun
from curation.services.pii.runs import (
    pii_run_retry,
    plan_detection,
    reconcile_runs,
    start_detection,
)
from tests.conftest import ROOT, WORKER_START
from tests.factories import ConversationFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

TEMPLATE = "Hi, I'm {name}, write to {email} about order {number}. Thanks for your help!"
NAMES = ["Crystal Minh", "Joseph Banter", "Sanya Afzal", "Alessandro Phoenix", "Joyce Wu"]


def _conversations(dataset, count: int, *, long: bool = False) -> None:  # type: ignore[no-untyped-def]
    filler = " I ordered the jeans last week and they came in the wrong size." * (
        150 if long else 1
    )
    for number in range(count):
        name = NAMES[number % len(NAMES)]
        email = f"{name.split()[0].lower()}{number}@example.com"
        ConversationFactory(
            dataset=dataset,
            status=ConversationStatus.PENDING_PII,
            original=[
                {"role": "assistant", "content": "Hello! How can I help you today?"},
                {
                    "role": "user",
                    "content": TEMPLATE.format(name=name, email=email, number=number) + filler,
                },
            ],
        )


def _worker_env() -> dict[str, str]:
    settings_dict = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:"
            f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
        ),
    }


def _worker(*, burst: bool = True) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "manage.py"), "rqworker", "pii", *WORKER_START]
    return subprocess.Popen(
        [*command, "--burst"] if burst else command,
        env=_worker_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _chunk_jobs(registry, run_id: int) -> int:  # type: ignore[no-untyped-def]
    """How many of this run's chunk jobs the registry holds (others' may linger there)."""
    jobs = registry.job_class.fetch_many(registry.get_job_ids(), connection=registry.connection)
    return sum(
        1
        for job in jobs
        if job is not None and job.func_name.endswith("detect_pii_chunk") and job.args[0] == run_id
    )


def _emails_found(dataset) -> list[int]:  # type: ignore[no-untyped-def]
    """Detector findings of e-mail addresses, one entry per conversation that has one."""
    return sorted(
        PiiFinding.objects.filter(
            conversation__dataset=dataset, entity_type="EMAIL_ADDRESS"
        ).values_list("conversation_id", flat=True)
    )


@pytest.fixture
def empty_registries(clear_queues):  # type: ignore[no-untyped-def]
    """Earlier test databases' runs had the same ids: forget their finished and failed jobs."""
    queue = django_rq.get_queue("pii")
    for registry in (FinishedJobRegistry(queue=queue), FailedJobRegistry(queue=queue)):
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)


def test_three_workers_claim_each_chunk_once_and_count_exactly(dataset, settings, empty_registries):
    settings.CURATOR_PII_CHUNK_SIZE = 4
    _conversations(dataset, 30)
    run = start_detection(dataset=dataset, enqueue=False)
    # The planner's job: chunks of 4 waiting in the queue (30 conversations are too few to
    # cut below the configured size for eight chunks per worker).
    plan_detection(run_id=run.pk)
    run.refresh_from_db()

    workers = [_worker() for _ in range(3)]
    for worker in workers:
        assert worker.wait(timeout=300) == 0

    run.refresh_from_db()
    queue = django_rq.get_queue("pii")
    assert (run.status, run.chunks) == (JobStatus.SUCCEEDED, 8)
    assert _chunk_jobs(FinishedJobRegistry(queue=queue), run.pk) == 8
    assert _chunk_jobs(FailedJobRegistry(queue=queue), run.pk) == 0
    assert (run.done, run.messages_analyzed) == (30, 60)
    # The greeting repeats in every conversation (analysed at most once per chunk, by chunks
    # that start before another stored it); each customer message is new.
    assert run.messages_reused >= 30 - run.chunks
    assert _emails_found(dataset) == sorted(
        Conversation.objects.filter(dataset=dataset).values_list("id", flat=True)
    )
    assert run.findings == PiiFinding.objects.filter(conversation__dataset=dataset).count()


def test_a_killed_workers_chunk_is_redone_after_retry_and_counted_once(
    dataset, settings, clear_queues, run_worker
):
    settings.CURATOR_PII_CHUNK_SIZE = 6
    _conversations(dataset, 12, long=True)
    run = start_detection(dataset=dataset, enqueue=False)
    plan_detection(run_id=run.pk)
    queue = django_rq.get_queue("pii")

    worker = _worker(burst=False)
    deadline = time.monotonic() + 120
    while StartedJobRegistry(queue=queue).count == 0:
        assert time.monotonic() < deadline, "no worker started a chunk"
        assert worker.poll() is None
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)  # its work horse dies with it, mid-chunk
    worker.wait(timeout=30)

    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and run.done < 12
    # Time passes without heartbeats: the run is found lost, and an admin retries it.
    PiiRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    reconcile_runs(dataset_id=dataset.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert pii_run_retry(run=run, user=UserFactory(username="admin")) is True
    run_worker("pii")

    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED
    assert (run.done, run.messages_analyzed) == (12, 24)
    assert _emails_found(dataset) == sorted(
        Conversation.objects.filter(dataset=dataset).values_list("id", flat=True)
    )
    assert run.findings == PiiFinding.objects.filter(conversation__dataset=dataset).count()
