"""Background jobs through a real RQ worker (burst mode) on Redis, in its own process."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from curation.models import Conversation, ImportBatch, JobStatus
from curation.services.imports import create_import_batch
from tests.conftest import DATA

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_uploaded_file_is_imported_by_a_real_worker(dataset, run_worker):
    batch = create_import_batch(
        dataset=dataset,
        uploaded=ContentFile((DATA / "openai_ok.jsonl").read_bytes(), name="ok.jsonl"),
        original_name="ok.jsonl",
        fmt="auto",
        user=None,
    )
    assert ImportBatch.objects.get(pk=batch.pk).status == JobStatus.QUEUED
    run_worker("default")
    batch.refresh_from_db()
    assert batch.status == JobStatus.SUCCEEDED, batch.error
    assert batch.attempts == 1 and batch.started_at and batch.finished_at
    assert Conversation.objects.filter(batch=batch).count() == 3


def test_a_job_enqueued_twice_runs_once(dataset, run_worker):
    batch = create_import_batch(
        dataset=dataset,
        uploaded=ContentFile((DATA / "alpaca.jsonl").read_bytes(), name="a.jsonl"),
        original_name="a.jsonl",
        fmt="auto",
        user=None,
    )
    batch.enqueue()  # a duplicate message, as after a lost acknowledgement
    run_worker("default")
    batch.refresh_from_db()
    assert batch.status == JobStatus.SUCCEEDED and batch.attempts == 1
    assert (batch.read, batch.imported) == (3, 2)
