"""With Redis unreachable, a new job row is marked failed and retryable, never stuck "Queued"."""

from __future__ import annotations

import copy

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from curation.models import (
    AuditEvent,
    ConversationStatus,
    DatasetVersion,
    ImportBatch,
    JobStatus,
    PiiRun,
)
from curation.services.versions.preview import create_version, normalize_filter
from tests import settings as test_settings
from tests.conftest import DATA
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_down(settings):  # type: ignore[no-untyped-def]
    """Point every queue at a loopback port where nothing listens."""
    queues = copy.deepcopy(settings.RQ_QUEUES)
    for queue in queues.values():
        queue["URL"] = "redis://127.0.0.1:9499/0"
    settings.RQ_QUEUES = queues


def assert_failed_and_retryable(job) -> None:  # type: ignore[no-untyped-def]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "could not be queued" in job.error and "Retry" in job.error
    assert job.can_retry


def test_an_upload_is_kept_and_marked_retryable(dataset, admin_user, client_for, redis_down):
    upload = SimpleUploadedFile("ok.jsonl", (DATA / "openai_ok.jsonl").read_bytes())
    response = client_for(admin_user).post(
        reverse("import_list", args=[dataset.slug]), {"files": [upload], "format": "auto"}
    )
    assert response.status_code == 302
    batch = ImportBatch.objects.get(dataset=dataset)
    assert_failed_and_retryable(batch)
    assert batch.file and AuditEvent.objects.filter(action="import.upload").exists()


def test_rerun_detection_is_marked_retryable(dataset, admin_user, client_for, redis_down):
    response = client_for(admin_user).post(reverse("pii_rerun", args=[dataset.slug]))
    assert response.status_code == 302
    assert_failed_and_retryable(PiiRun.objects.get(dataset=dataset))


def test_a_new_version_is_marked_retryable(dataset, admin_user, redis_down):
    ConversationFactory.create_batch(2, dataset=dataset, status=ConversationStatus.APPROVED)
    version = create_version(dataset=dataset, user=admin_user, filter=normalize_filter())
    assert_failed_and_retryable(DatasetVersion.objects.get(pk=version.pk))


def test_retry_once_redis_is_back_queues_the_job(
    clear_queues, dataset, admin_user, client_for, settings, redis_down
):
    upload = SimpleUploadedFile("ok.jsonl", (DATA / "openai_ok.jsonl").read_bytes())
    client = client_for(admin_user)
    client.post(reverse("import_list", args=[dataset.slug]), {"files": [upload], "format": "auto"})
    batch = ImportBatch.objects.get(dataset=dataset)
    assert batch.status == JobStatus.FAILED
    # Still down: Retry fails the same clear way, and the row stays retryable.
    client.post(reverse("import_retry", args=[dataset.slug, batch.pk]))
    assert_failed_and_retryable(batch)
    settings.RQ_QUEUES = copy.deepcopy(test_settings.RQ_QUEUES)
    client.post(reverse("import_retry", args=[dataset.slug, batch.pk]))
    batch.refresh_from_db()
    assert batch.status == JobStatus.QUEUED and batch.error == ""
    assert batch.rq_job_id in django_rq.get_queue("default").job_ids
