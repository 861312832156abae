"""The registry webhook tries again on a 5xx, a 429 or a network error, with backoff, and
records a delivery that finally failed where a dataset admin sees it (timeline + audit)."""

from __future__ import annotations

import django_rq
import pytest
from django.test import TestCase
from django.urls import reverse

from curation.models import AuditEvent
from training.registry.promotion import promote_model
from training.registry.stages import StageEvent
from training.registry.webhooks import (
    MAX_ATTEMPTS,
    RETRY_INTERVALS,
    WebhookRetry,
    send_webhook,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(dataset, make_model, admin_user, settings, webhook_receiver):
    settings.CURATOR_REGISTRY_WEBHOOK_URL = ""  # nothing queued by the promotion itself
    promote_model(dataset=dataset, model=make_model("ft:only"), user=admin_user)
    settings.CURATOR_REGISTRY_WEBHOOK_URL = webhook_receiver.url
    return StageEvent.objects.get(dataset=dataset)


def test_it_is_queued_with_backoff(dataset, make_model, admin_user, settings, webhook_receiver):
    settings.CURATOR_REGISTRY_WEBHOOK_URL = webhook_receiver.url
    queue = django_rq.get_queue("default")
    queue.empty()
    with TestCase.captureOnCommitCallbacks(execute=True):
        promote_model(dataset=dataset, model=make_model("ft:q"), user=admin_user)
    job = queue.jobs[0]
    assert job.retries_left == len(RETRY_INTERVALS) == MAX_ATTEMPTS - 1
    assert job.retry_intervals == RETRY_INTERVALS
    queue.empty()


def test_server_errors_and_rate_limits_are_retried_then_delivered(event, webhook_receiver):
    webhook_receiver.fail_with = [503, 429]
    for _ in range(2):
        with pytest.raises(WebhookRetry):
            send_webhook(event_id=event.pk)
    assert send_webhook(event_id=event.pk) == 200
    event.refresh_from_db()
    assert event.webhook_attempts == 3 and event.webhook_delivered_at is not None
    assert event.webhook_error == "" and event.webhook_failed_at is None


def test_a_delivery_that_finally_fails_is_recorded_for_admins(
    event, webhook_receiver, dataset, admin_user, reviewer, client_for
):
    webhook_receiver.fail_with = [500] * MAX_ATTEMPTS
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(WebhookRetry):
            send_webhook(event_id=event.pk)
    assert send_webhook(event_id=event.pk) == 500  # the last try: no more retries
    event.refresh_from_db()
    assert event.webhook_failed_at is not None
    assert event.webhook_error == f"HTTP 500 after {MAX_ATTEMPTS} tries"
    audit = AuditEvent.objects.get(action="model.webhook_failed")
    assert audit.details["attempts"] == MAX_ATTEMPTS
    home = reverse("registry_home", args=[dataset.slug])
    assert b"webhook not delivered" in client_for(admin_user).get(home).content
    assert b"webhook not delivered" not in client_for(reviewer).get(home).content


def test_a_client_error_is_final_at_once(event, webhook_receiver):
    webhook_receiver.fail_with = [404]
    assert send_webhook(event_id=event.pk) == 404
    event.refresh_from_db()
    assert event.webhook_attempts == 1 and event.webhook_error == "HTTP 404 after 1 tries"


def test_an_unreachable_receiver_is_retried(event, settings):
    settings.CURATOR_REGISTRY_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    with pytest.raises(WebhookRetry, match="network error"):
        send_webhook(event_id=event.pk)
