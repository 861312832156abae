"""What follows an ingest (docs/api.md: ingested conversations go through PII detection into
the review queue like imported ones): each dataset's queued follow-up job runs quality signals
for each of its own ingested batches and one PII detection run, and the flag that makes
requests share a waiting job expires, so a job that was lost is queued again.

mutmut's run over curation/services/ingest.py found the job's arguments, the per-dataset
scope and the flag's expiry untested (docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import django_rq
import pytest

from curation.models import PiiRun, QualityRun, Role
from curation.services.ingest import FOLLOW_UP_KEY, STALE_AFTER
from tests.api.conftest import item, post_items
from tests.factories import DatasetFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    queue = django_rq.get_queue("default")
    queue.empty()
    connection = django_rq.get_connection("default")
    for key in connection.scan_iter(FOLLOW_UP_KEY.format(dataset="*")):
        connection.delete(key)
    return queue


def test_each_datasets_queued_follow_up_covers_its_own_ingested_batches(
    api, dataset, admin_user, make_token, queue, django_capture_on_commit_callbacks
):
    other = DatasetFactory(name="Billing", slug="billing")
    MembershipFactory(dataset=other, user=admin_user, role=Role.ADMIN)
    secret = make_token(admin_user, "ingest")
    with django_capture_on_commit_callbacks(execute=True):
        post_items(api, dataset.slug, secret, [item(1)])
        post_items(api, dataset.slug, secret, [item(2)])
        post_items(api, other.slug, secret, [item(3)])
    jobs = queue.jobs
    assert len(jobs) == 2

    for job in jobs:  # the support dataset's job first, as queued
        job.perform()

    for each, batches in ((dataset, 2), (other, 1)):
        assert QualityRun.objects.filter(dataset=each, batch__isnull=False).count() == batches
        assert PiiRun.objects.filter(dataset=each).count() == 1


def test_a_dataset_wide_quality_run_does_not_hide_ingested_batches(
    api, dataset, admin_user, make_token, queue, django_capture_on_commit_callbacks
):
    QualityRun.objects.create(dataset=dataset)  # a run over the whole dataset, no batch
    secret = make_token(admin_user, "ingest")
    with django_capture_on_commit_callbacks(execute=True):
        post_items(api, dataset.slug, secret, [item(1)])

    queue.jobs[0].perform()

    assert QualityRun.objects.filter(dataset=dataset, batch__isnull=False).count() == 1
    assert PiiRun.objects.filter(dataset=dataset).count() == 1


def test_the_shared_follow_up_flag_expires_so_a_lost_job_is_queued_again(
    api, dataset, admin_user, make_token, queue
):
    secret = make_token(admin_user, "ingest")

    post_items(api, dataset.slug, secret, [item(1)])

    ttl = django_rq.get_connection("default").ttl(FOLLOW_UP_KEY.format(dataset=dataset.pk))
    # Minutes, not forever: a request after it queues a new job.
    assert 0 < ttl <= STALE_AFTER.total_seconds()
