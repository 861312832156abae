"""RQ entry points of the registry: each takes ids and calls a service."""

from __future__ import annotations

from training.registry.retrain import (
    advance_retrain_job,
    ensure_retrain_schedule,
    start_scheduled_retrains,
)
from training.registry.webhooks import send_webhook


def send_registry_webhook(event_id: int) -> int:
    return send_webhook(event_id=event_id)


def advance_retrain(run_id: int) -> None:
    advance_retrain_job(run_id=run_id)


def scheduled_retrains() -> int:
    started = start_scheduled_retrains()
    ensure_retrain_schedule(delay_seconds=24 * 3600)
    return started
