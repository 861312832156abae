"""System checks of the registry and API settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.compatibility)
def check_registry_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    url = settings.CURATOR_REGISTRY_WEBHOOK_URL
    if url and urlparse(url).scheme not in ("http", "https"):
        problems.append(
            Error(
                f"CURATOR_REGISTRY_WEBHOOK_URL={url!r} is not an http(s) URL.",
                id="registry.E001",
            )
        )
    if url and not settings.CURATOR_REGISTRY_WEBHOOK_SECRET:
        problems.append(
            Warning(
                "CURATOR_REGISTRY_WEBHOOK_URL is set without CURATOR_REGISTRY_WEBHOOK_SECRET: "
                "promotion webhooks go out unsigned.",
                hint="Set CURATOR_REGISTRY_WEBHOOK_SECRET to a long random string.",
                id="registry.W001",
            )
        )
    if settings.CURATOR_INGEST_MAX_BYTES <= 0 or settings.CURATOR_INGEST_MAX_ITEMS <= 0:
        problems.append(
            Error(
                "CURATOR_INGEST_MAX_BYTES and CURATOR_INGEST_MAX_ITEMS must be positive.",
                id="registry.E002",
            )
        )
    if settings.CURATOR_INGEST_RATE_LIMIT < 0:
        problems.append(
            Error("CURATOR_INGEST_RATE_LIMIT must be 0 (no limit) or more.", id="registry.E003")
        )
    if settings.CURATOR_RETRAIN_POLL_SECONDS >= settings.CURATOR_JOB_HEARTBEAT_TIMEOUT:
        problems.append(
            Error(
                "CURATOR_RETRAIN_POLL_SECONDS must be shorter than CURATOR_JOB_HEARTBEAT_TIMEOUT, "
                "or a retraining waiting on its fine-tune looks lost between checks.",
                id="registry.E004",
            )
        )
    return problems
