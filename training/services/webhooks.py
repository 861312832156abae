"""Provider webhooks: verify the signature with the SDK, then sync the job it names.

A webhook is only a hint that something changed: the job is refreshed from the provider's
API, never from the payload, so a replayed or reordered delivery cannot set a wrong state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.conf import settings

from training.models import FineTuneJob
from training.services.sync import refresh_finetune

if TYPE_CHECKING:
    import openai

logger = logging.getLogger(__name__)

FINE_TUNING_EVENT_PREFIX = "fine_tuning.job."


class WebhookRejected(ValueError):
    """The delivery cannot be trusted (bad or missing signature, no secret configured)."""


def _verifier(secret: str) -> openai.OpenAI:
    # Imported here, when a delivery arrives: the SDK takes seconds to load, and every page and
    # command would pay for it through the URL config (CLI start-up, issue 19).
    import openai

    # unwrap() makes no request; the key is a placeholder the constructor insists on.
    return openai.OpenAI(api_key="webhook-verification-only", webhook_secret=secret)


def handle_openai_webhook(*, payload: bytes, headers: Mapping[str, str]) -> str:
    """Verify and act on one delivery; returns what was done, for the reply and the log."""
    secret = settings.OPENAI_WEBHOOK_SECRET
    if not secret:
        raise WebhookRejected("OPENAI_WEBHOOK_SECRET is not configured; cannot verify webhooks")
    try:
        event = _verifier(secret).webhooks.unwrap(payload, dict(headers), secret=secret)
    except ValueError as error:  # InvalidWebhookSignatureError, missing headers, bad JSON
        raise WebhookRejected(str(error) or "invalid webhook") from None
    event_type = str(getattr(event, "type", "") or "")
    remote_id = getattr(getattr(event, "data", None), "id", None)
    if not event_type.startswith(FINE_TUNING_EVENT_PREFIX) or not remote_id:
        return f"ignored {event_type or 'unknown event'}"
    jobs = list(
        FineTuneJob.objects.select_related("dataset", "version").filter(remote_job_id=remote_id)
    )
    if not jobs:
        logger.info("webhook %s for unknown remote job %s", event_type, remote_id)
        return f"ignored {event_type}: no job {remote_id} here"
    for job in jobs:
        refresh_finetune(job=job)
    return f"refreshed {remote_id} on {event_type}"
