"""The signed outgoing webhook on promotion and rollback (one module for that outside call).

Body: the production-model answer plus the event; header ``X-Curator-Signature:
sha256=<hex>`` is the HMAC-SHA256 of the exact body with CURATOR_REGISTRY_WEBHOOK_SECRET,
``X-Curator-Event`` the action. Sent from a worker after the promotion committed.
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
from rq import Retry

from curation.models import Dataset
from training.registry.serving import production_answer
from training.registry.stages import StageEvent

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Curator-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def queue_webhook(*, event: StageEvent) -> None:
    if not settings.CURATOR_REGISTRY_WEBHOOK_URL:
        return
    django_rq.get_queue("default").enqueue(
        "training.registry.jobs.send_registry_webhook",
        event.pk,
        retry=Retry(max=5, interval=[10, 60, 300, 900, 3600]),
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


def send_webhook(*, event_id: int) -> int:
    """POST the event; returns the HTTP status (raises on a network error so RQ retries)."""
    event = StageEvent.objects.select_related("model", "previous").get(pk=event_id)
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
            return int(response.status)
    except urllib.error.HTTPError as error:
        logger.warning("registry webhook for event %s answered %s", event_id, error.code)
        return int(error.code)
