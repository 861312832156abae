"""RQ entry points of the registry: each takes ids and calls a service."""

from __future__ import annotations


def send_registry_webhook(event_id: int) -> int:
    from training.registry.webhooks import send_webhook

    return send_webhook(event_id=event_id)


def advance_retrain(run_id: int) -> None:
    from training.registry.retrain import advance_retrain_job

    advance_retrain_job(run_id=run_id)


def scheduled_retrains() -> int:
    from training.registry.retrain import ensure_retrain_schedule, start_scheduled_retrains

    started = start_scheduled_retrains()
    ensure_retrain_schedule(delay_seconds=24 * 3600)
    return started
