"""Lost jobs: pages show them from the heartbeat age without writing; a periodic RQ job
(and `manage.py mark_lost_jobs`) marks them; Retry takes them either way."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import django_rq
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rq.registry import ScheduledJobRegistry
from rq.worker import Worker

from curation.models import ImportBatch, JobStatus
from curation.models.jobs import WORKER_LOST
from curation.periodic import JOB_ID_PREFIX, lost_jobs_schedule, mark_lost_jobs, next_slot
from curation.worker import CuratorWorker
from tests.factories import ImportBatchFactory


def lost_batch(dataset) -> ImportBatch:  # type: ignore[no-untyped-def]
    batch = ImportBatchFactory(dataset=dataset)
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    return ImportBatch.objects.get(pk=batch.pk)


def live_batch(dataset) -> ImportBatch:  # type: ignore[no-untyped-def]
    batch = ImportBatchFactory(dataset=dataset, original_name="live.jsonl")
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now()
    )
    return ImportBatch.objects.get(pk=batch.pk)


@pytest.fixture
def scheduled(clear_queues):  # type: ignore[no-untyped-def]
    """The default queue's scheduled registry, emptied before and after the test."""
    registry = ScheduledJobRegistry(queue=django_rq.get_queue("default"))
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)
    yield registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)


@pytest.mark.django_db
def test_a_lost_job_shows_failed_with_retry_without_a_write_on_get(client, dataset, admin_user):
    batch = lost_batch(dataset)
    client.force_login(admin_user)
    pages = [
        reverse("import_detail", args=[dataset.slug, batch.pk]),
        reverse("import_list", args=[dataset.slug]),
        reverse("dataset_detail", args=[dataset.slug]),
    ]
    for url in pages:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url)
        assert page.status_code == 200
        assert b"badge-failed" in page.content, url
        assert not [q for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")], url
    detail = client.get(pages[0]).content.decode()
    assert WORKER_LOST in detail and "Retry" in detail
    assert ImportBatch.objects.get(pk=batch.pk).status == JobStatus.RUNNING


@pytest.mark.django_db
def test_a_job_with_a_fresh_heartbeat_is_shown_running(dataset):
    batch = live_batch(dataset)
    assert batch.shown_status == JobStatus.RUNNING and batch.shown_error == ""
    assert not batch.can_retry


@pytest.mark.django_db
def test_retry_takes_a_lost_job_the_periodic_run_has_not_marked(
    client, dataset, admin_user, clear_queues
):
    batch = lost_batch(dataset)
    assert batch.can_retry
    client.force_login(admin_user)
    client.post(reverse("import_retry", args=[dataset.slug, batch.pk]))
    batch.refresh_from_db()
    assert batch.status == JobStatus.QUEUED and batch.error == ""


@pytest.mark.django_db
def test_mark_lost_jobs_command_fails_lost_rows_and_leaves_live_ones(dataset):
    lost, live = lost_batch(dataset), live_batch(dataset)
    out = StringIO()
    call_command("mark_lost_jobs", stdout=out)
    assert "curation.ImportBatch: 1 marked lost" in out.getvalue()
    lost.refresh_from_db()
    live.refresh_from_db()
    assert lost.status == JobStatus.FAILED and lost.error == WORKER_LOST and lost.can_retry
    assert live.status == JobStatus.RUNNING
    out = StringIO()
    call_command("mark_lost_jobs", stdout=out)
    assert out.getvalue().strip() == "No lost jobs."


def test_runs_fall_on_one_grid_so_workers_booting_apart_share_a_slot():
    assert next_slot(now=119.0, interval=60) == next_slot(now=61.0, interval=60) == 2
    assert next_slot(now=120.0, interval=60) == 3


@pytest.mark.django_db
def test_scheduling_a_slot_twice_queues_one_run(scheduled, settings):
    settings.CURATOR_LOST_JOBS_INTERVAL = 60
    first = lost_jobs_schedule(now=1000.0)
    again = lost_jobs_schedule(now=1010.0)
    assert first is not None and again is not None
    assert first.id == again.id == f"{JOB_ID_PREFIX}17"
    assert scheduled.get_job_ids() == [first.id]


@pytest.mark.django_db
def test_an_interval_of_zero_schedules_nothing(scheduled, settings):
    settings.CURATOR_LOST_JOBS_INTERVAL = 0
    assert lost_jobs_schedule() is None
    assert scheduled.get_job_ids() == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_periodic_job_marks_lost_jobs_on_a_real_worker_and_schedules_its_next_run(
    dataset, run_worker, scheduled
):
    lost, live = lost_batch(dataset), live_batch(dataset)
    django_rq.get_queue("default").enqueue(mark_lost_jobs)
    run_worker("default")
    lost.refresh_from_db()
    live.refresh_from_db()
    assert lost.status == JobStatus.FAILED and lost.error == WORKER_LOST
    assert live.status == JobStatus.RUNNING
    [next_run] = scheduled.get_job_ids()
    assert next_run.startswith(JOB_ID_PREFIX)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("burst", "with_scheduler", "scheduled_runs"),
    [(False, True, 1), (True, True, 0), (False, False, 0)],
)
def test_only_a_long_lived_worker_with_the_scheduler_starts_the_periodic_run(
    scheduled, monkeypatch, burst, with_scheduler, scheduled_runs
):
    monkeypatch.setattr(Worker, "work", lambda self, *args, **kwargs: True)
    queue = django_rq.get_queue("default")
    worker = CuratorWorker([queue], connection=queue.connection)
    assert worker.work(burst=burst, with_scheduler=with_scheduler)
    assert len(scheduled.get_job_ids()) == scheduled_runs
