"""Jobs never lie: a timer beats while work runs, and Retry refuses while a worker holds a row."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from curation.models import ImportBatch, JobStatus
from curation.models.jobs import WORKER_LOST
from tests.factories import ImportBatchFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_heartbeats(settings):  # type: ignore[no-untyped-def]
    settings.CURATOR_JOB_HEARTBEAT_TIMEOUT = 2  # a beat every 0.5 s
    settings.CURATOR_JOB_TIMER_HEARTBEATS = True


def wait_for(predicate, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_long_step_keeps_beating_and_is_never_taken_as_lost(dataset, fast_heartbeats):
    batch = ImportBatchFactory(dataset=dataset)
    assert batch.claim()
    try:
        # One step of work that commits nothing for longer than the timeout.
        time.sleep(3.5)
        assert ImportBatch.objects.filter(pk=batch.pk).mark_lost() == 0
        batch.refresh_from_db()
        assert batch.status == JobStatus.RUNNING and not batch.is_lost
        assert timezone.now() - batch.heartbeat_at < timedelta(seconds=2)
    finally:
        batch.succeed()


def test_the_timer_stops_when_the_job_finishes(dataset, fast_heartbeats):
    batch = ImportBatchFactory(dataset=dataset)
    assert batch.claim()
    batch.succeed()
    stamped = ImportBatch.objects.get(pk=batch.pk).heartbeat_at
    time.sleep(1.2)
    assert ImportBatch.objects.get(pk=batch.pk).heartbeat_at == stamped


def test_a_row_marked_lost_while_its_worker_lives_is_taken_back(dataset, fast_heartbeats):
    batch = ImportBatchFactory(dataset=dataset)
    assert batch.claim()
    try:
        # A page saw an old heartbeat (the worker was stuck past the timeout) and failed it.
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=JobStatus.FAILED,
            error=WORKER_LOST,
            heartbeat_at=timezone.now() - timedelta(seconds=5),
        )
        assert wait_for(lambda: ImportBatch.objects.get(pk=batch.pk).status == JobStatus.RUNNING, 5)
        assert ImportBatch.objects.get(pk=batch.pk).error == ""
    finally:
        batch.succeed()


def test_retry_refuses_while_a_live_worker_holds_the_job(
    dataset, admin_user, client_for, fast_heartbeats, clear_queues
):
    batch = ImportBatchFactory(dataset=dataset)
    client = client_for(admin_user)
    client.get(reverse("import_list", args=[dataset.slug]))  # the URLconf is loaded
    # Failed, but with a fresh heartbeat: its worker still beats.
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=JobStatus.FAILED, error=WORKER_LOST, heartbeat_at=timezone.now()
    )
    batch.refresh_from_db()
    assert not batch.can_retry and not batch.retry()
    response = client.post(reverse("import_retry", args=[dataset.slug, batch.pk]))
    assert response.status_code == 302
    assert ImportBatch.objects.get(pk=batch.pk).status == JobStatus.FAILED
    # Once the heartbeat is older than the timeout, Retry queues it again.
    ImportBatch.objects.filter(pk=batch.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=5)
    )
    batch.refresh_from_db()
    assert batch.can_retry and batch.retry()
    assert ImportBatch.objects.get(pk=batch.pk).status == JobStatus.QUEUED


def test_only_one_of_two_claims_wins(dataset):
    batch = ImportBatchFactory(dataset=dataset)
    other = ImportBatch.objects.get(pk=batch.pk)
    try:
        assert [batch.claim(), other.claim()] == [True, False]
    finally:
        batch.succeed()


def test_a_job_its_worker_failed_is_retryable_at_once(dataset, clear_queues):
    batch = ImportBatchFactory(dataset=dataset)
    assert batch.claim()
    batch.fail("the file is truncated after line 3")
    batch.refresh_from_db()
    assert batch.can_retry and batch.retry()
    assert ImportBatch.objects.get(pk=batch.pk).status == JobStatus.QUEUED
