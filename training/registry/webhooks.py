"""The signed outgoing webhook on promotion and rollback (one module for that outside call).

Body: the production-model answer plus the event; header ``X-Curator-Signature:
sha256=<hex>`` is the HMAC-SHA256 of the exact body with CURATOR_REGISTRY_WEBHOOK_SECRET,
``X-Curator-Event`` the action. Sent from a worker after the promotion committed.

A network error, a 5xx or a 429 is tried again with backoff (RQ's Retry: 10 s, 1 min,
5 min, 15 min, 1 h); any other answer is final. Every try is counted on the event; a
delivery that finally failed is recorded there with its error and in the audit log, and
the registry's timeline shows it to the dataset's admins.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import urllib.error
import urllib.request

import django_rq
import orjson
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from rq import Retry

from curation.models import AuditEvent, Dataset
from training.registry.serving import production_answer
from training.registry.stages import StageEvent

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Curator-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


RETRY_INTERVALS = [10, 60, 300, 900, 3600]
# The first try and one per interval.
MAX_ATTEMPTS = 1 + len(RETRY_INTERVALS)


class WebhookRetry(Exception):
    """The receiver may take it later (network error, 5xx, 429): RQ tries again."""


def queue_webhook(*, event: StageEvent) -> None:
    if not settings.CURATOR_REGISTRY_WEBHOOK_URL:
        return
    django_rq.get_queue("default").enqueue(
        "training.registry.jobs.send_registry_webhook",
        event.pk,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
    )


def webhook_body(event: StageEvent) -> bytes:
    dataset = Dataset.objects.get(pk=event.dataset_id)
    return orjson.dumps(
        {
            "event": event.action,
            "id": event.pk,
            "dataset": dataset.slug,
            "at": event.created_at.isoformat(),
            "model": event.model.name if event.model else None,
            "previous": event.previous.name if event.previous else None,
            "production": production_answer(dataset),
        },
        option=orjson.OPT_SORT_KEYS,
    )


def _gave_up(event: StageEvent, error: str) -> None:
    StageEvent.objects.filter(pk=event.pk).update(
        webhook_error=error[:2000], webhook_failed_at=timezone.now()
    )
    AuditEvent.record(
        actor=None,
        action="model.webhook_failed",
        obj=event.model,
        dataset=event.dataset,
        event=event.pk,
        attempts=event.webhook_attempts,
        error=error[:2000],
    )


def send_webhook(*, event_id: int) -> int:
    """POST the event; returns the final HTTP status. Raises WebhookRetry (so RQ tries
    again with backoff) on a network error, a 5xx or a 429 while tries are left."""
    event = StageEvent.objects.select_related("model", "previous", "dataset").get(pk=event_id)
    StageEvent.objects.filter(pk=event.pk).update(webhook_attempts=F("webhook_attempts") + 1)
    event.refresh_from_db(fields=["webhook_attempts"])
    body = webhook_body(event)
    headers = {"Content-Type": "application/json", "X-Curator-Event": event.action}
    secret = settings.CURATOR_REGISTRY_WEBHOOK_SECRET
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    request = urllib.request.Request(  # noqa: S310  (an admin-configured http(s) URL)
        settings.CURATOR_REGISTRY_WEBHOOK_URL, data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status, problem = int(error.code), f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        status, problem = 0, f"network error: {error}"
    else:
        StageEvent.objects.filter(pk=event.pk).update(
            webhook_error="", webhook_delivered_at=timezone.now()
        )
        return status
    logger.warning("registry webhook for event %s: %s", event_id, problem)
    retriable = status == 0 or status == 429 or status >= 500
    if retriable and event.webhook_attempts < MAX_ATTEMPTS:
        StageEvent.objects.filter(pk=event.pk).update(webhook_error=problem)
        raise WebhookRetry(f"event {event_id}: {problem} (try {event.webhook_attempts})")
    _gave_up(event, f"{problem} after {event.webhook_attempts} tries")
    return status
