"""A version built by a real RQ worker (burst mode, own process), queued from the page."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from curation.models import AuditEvent, ConversationStatus, DatasetVersion, VersionStatus
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_version_created_on_the_page_is_built_by_a_worker(
    dataset, admin_user, client_for, run_worker
):
    ConversationFactory.create_many(2100, dataset=dataset, status=ConversationStatus.APPROVED)
    ConversationFactory.create_batch(5, dataset=dataset, status=ConversationStatus.IN_REVIEW)
    client = client_for(admin_user)
    response = client.post(
        reverse("version_create", args=[dataset.slug]),
        {"validation_fraction": "0.1", "seed": "0", "notes": "worker"},
    )
    version = DatasetVersion.objects.get(dataset=dataset)
    assert (
        response.status_code == 302 and version.status == VersionStatus.QUEUED and version.rq_job_id
    )
    run_worker("default")
    version.refresh_from_db()
    assert version.status == VersionStatus.SUCCEEDED, version.error
    assert version.attempts == 1 and version.started_at and version.finished_at
    assert (version.done, version.total, version.examples) == (2100, 2100, 2100)
    assert (
        version.train_examples + version.validation_examples == 2100
        and version.validation_examples > 0
    )
    assert version.members.count() == 2100
    for name in ("train.jsonl", "validation.jsonl", "manifest.json"):
        info = version.files[name]
        with default_storage.open(info["name"], "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == info["sha256"]
    assert AuditEvent.objects.filter(
        action="version.create", actor=admin_user, object_id=str(version.pk)
    ).exists()
    page = client.get(reverse("version_detail", args=[dataset.slug, version.number]))
    assert version.files["train.jsonl"]["sha256"].encode() in page.content


def test_a_build_queued_twice_runs_once(dataset, run_worker):
    from curation.services.versions.preview import create_version, normalize_filter

    ConversationFactory.create_batch(10, dataset=dataset, status=ConversationStatus.APPROVED)
    version = create_version(dataset=dataset, user=None, filter=normalize_filter())
    version.enqueue()  # a duplicate message, as after a lost acknowledgement
    run_worker("default")
    version.refresh_from_db()
    assert version.status == VersionStatus.SUCCEEDED and version.attempts == 1
    assert version.members.count() == 10
