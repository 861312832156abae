"""A queued row whose RQ task vanished (Redis lost it, or a worker took it and died before
starting it) counts as lost once the heartbeat timeout has passed, and Retry takes it at once:
imports, versions, PII runs, evaluation runs and fine-tunes alike."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from curation.models import ImportBatch, JobStatus
from curation.models.jobs import JOB_VANISHED
from curation.services.lost_jobs import lost_jobs_mark
from tests.factories import FineTuneJobFactory, ImportBatchFactory, built_version
from training.evaluation.models import EvalRun
from training.evaluation.services.runs import retry_eval_run
from training.models import FineTuneJob
from training.registry.models import Model
from training.services.launch import retry_finetune

pytestmark = pytest.mark.django_db(transaction=True)


def queued(row):  # type: ignore[no-untyped-def]
    """Queue the row for real, then age it past the heartbeat timeout."""
    row.enqueue()
    type(row).objects.filter(pk=row.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    row.refresh_from_db()
    return row


def vanish(row) -> None:  # type: ignore[no-untyped-def]
    """What a worker that pops the task and dies before starting it leaves: the task is in
    no queue, registry or worker, and its RQ status still says queued."""
    queue = django_rq.get_queue(row.queue_name)
    assert queue.connection.lrem(queue.key, 0, row.rq_job_id) == 1


def test_a_queued_import_whose_worker_died_before_starting_it_is_marked_lost(dataset, clear_queues):
    batch = queued(ImportBatchFactory(dataset=dataset))
    vanish(batch)
    assert lost_jobs_mark() == {"curation.ImportBatch": 1}
    batch.refresh_from_db()
    assert batch.status == JobStatus.FAILED and batch.error == JOB_VANISHED


def test_retry_takes_a_queued_import_whose_task_redis_lost_without_the_periodic_run(
    client, dataset, admin_user, clear_queues
):
    batch = queued(ImportBatchFactory(dataset=dataset))
    django_rq.get_connection("default").delete(f"rq:job:{batch.rq_job_id}")
    django_rq.get_queue("default").empty()
    client.force_login(admin_user)
    page = client.get(reverse("import_detail", args=[dataset.slug, batch.pk]))
    assert reverse("import_retry", args=[dataset.slug, batch.pk]) in page.content.decode()
    response = client.post(reverse("import_retry", args=[dataset.slug, batch.pk]), follow=True)
    assert "Retrying" in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == JobStatus.QUEUED and batch.attempts == 0
    assert batch.rq_job_id in django_rq.get_queue("default").job_ids


def test_a_queued_row_still_waiting_in_its_queue_is_not_lost_and_retry_refuses(
    dataset, clear_queues
):
    batch = queued(ImportBatchFactory(dataset=dataset))
    assert lost_jobs_mark() == {}
    assert not batch.retry()
    batch.refresh_from_db()
    assert batch.status == JobStatus.QUEUED


def test_a_fresh_queued_row_is_not_lost_even_when_its_task_is_gone(dataset, clear_queues):
    batch = ImportBatchFactory(dataset=dataset)
    batch.enqueue()
    vanish(batch)
    assert lost_jobs_mark() == {}
    assert ImportBatch.objects.get(pk=batch.pk).status == JobStatus.QUEUED


def test_nothing_is_marked_when_redis_cannot_be_asked(dataset, clear_queues, monkeypatch):
    batch = queued(ImportBatchFactory(dataset=dataset))
    vanish(batch)

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RedisConnectionError("Redis is down")

    monkeypatch.setattr(django_rq, "get_connection", down)
    assert lost_jobs_mark() == {}
    assert ImportBatch.objects.get(pk=batch.pk).status == JobStatus.QUEUED


def test_retry_of_an_evaluation_run_lost_while_queued_needs_no_periodic_run(
    dataset, admin_user, clear_queues
):
    model = Model.objects.create(kind="base", provider="simulator", name="m")
    run = queued(
        EvalRun.objects.create(dataset=dataset, version=built_version(dataset), model=model)
    )
    vanish(run)
    assert retry_eval_run(run=run, user=admin_user)
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED
    assert run.rq_job_id in django_rq.get_queue(run.queue_name).job_ids
    django_rq.get_queue(run.queue_name).empty()


def test_retry_of_a_fine_tune_lost_while_running_needs_no_periodic_run(
    dataset, admin_user, clear_queues
):
    job = FineTuneJobFactory(dataset=dataset)
    FineTuneJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    job.refresh_from_db()
    assert job.can_retry
    assert retry_finetune(job=job, user=admin_user)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_retry_of_a_fine_tune_lost_while_queued_needs_no_periodic_run(
    dataset, admin_user, clear_queues
):
    job = queued(FineTuneJobFactory(dataset=dataset))
    vanish(job)
    assert job.can_retry
    assert retry_finetune(job=job, user=admin_user)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.heartbeat_at > timezone.now() - timedelta(
        minutes=1
    )
