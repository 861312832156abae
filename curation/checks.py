"""System checks for configuration that would otherwise fail late (ids curation.E0xx/W0xx)."""

from __future__ import annotations

import importlib.util
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from curation.storage import parse_storage_url


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    if urlparse(settings.REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
        problems.append(
            Error(
                f"REDIS_URL={settings.REDIS_URL!r} is not a redis:// URL.",
                hint="Use e.g. redis://127.0.0.1:6379/0",
                id="curation.E001",
            )
        )
    if settings.CURATOR_MAX_UPLOAD_SIZE <= 0:
        problems.append(
            Error("CURATOR_MAX_UPLOAD_SIZE must be positive.", hint="e.g. 4G", id="curation.E002")
        )
    if settings.CURATOR_MAX_LINE_BYTES <= 0:
        problems.append(
            Error("CURATOR_MAX_LINE_BYTES must be positive.", hint="e.g. 4M", id="curation.E003")
        )
    if not 1 <= settings.CURATOR_IMPORT_BATCH_SIZE <= 100_000:
        problems.append(
            Error(
                "CURATOR_IMPORT_BATCH_SIZE must be between 1 and 100000.",
                hint="The default, 2000, balances progress updates against insert speed.",
                id="curation.E004",
            )
        )
    if settings.CURATOR_JOB_HEARTBEAT_TIMEOUT < 10:
        problems.append(
            Warning(
                "CURATOR_JOB_HEARTBEAT_TIMEOUT is under 10 seconds: busy jobs may be marked lost.",
                id="curation.W001",
            )
        )
    if settings.CURATOR_TOKEN_ENCODING not in {"o200k_base", "cl100k_base"}:
        problems.append(
            Error(
                f"CURATOR_TOKEN_ENCODING={settings.CURATOR_TOKEN_ENCODING!r} is not supported.",
                hint="Use o200k_base (gpt-4o/4.1) or cl100k_base.",
                id="curation.E005",
            )
        )
    if importlib.util.find_spec(settings.CURATOR_SPACY_MODEL) is None:
        problems.append(
            Warning(
                f"The spaCy model package {settings.CURATOR_SPACY_MODEL!r} is not installed; "
                "PII detection will fail.",
                hint="Install the project (pip install -e .) or set CURATOR_SPACY_MODEL.",
                id="curation.W002",
            )
        )
    if not 0.0 <= settings.CURATOR_VALIDATION_FRACTION < 1.0:
        problems.append(Error("CURATOR_VALIDATION_FRACTION must be in [0, 1).", id="curation.E006"))
    problems.extend(check_storage())
    if settings.CURATOR_TOKEN_LIFETIME_DAYS < 1:
        problems.append(
            Error(
                "CURATOR_TOKEN_LIFETIME_DAYS must be at least 1.",
                hint="e.g. 90",
                id="curation.E007",
            )
        )
    if settings.AXES_FAILURE_LIMIT < 1:
        problems.append(
            Error(
                "CURATOR_LOGIN_FAILURE_LIMIT must be at least 1.",
                hint="The default, 5, pauses logins after five wrong passwords.",
                id="curation.E008",
            )
        )
    if settings.CURATOR_BEHIND_PROXY and not settings.CSRF_TRUSTED_ORIGINS and not settings.DEBUG:
        problems.append(
            Warning(
                "CURATOR_BEHIND_PROXY is on but CSRF_TRUSTED_ORIGINS is empty.",
                hint="Set it to the public https:// origin, e.g. https://curator.example.com",
                id="curation.W003",
            )
        )
    return problems


@register(Tags.compatibility)
def check_import_limits(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Import memory bounds and parallelism (ids curation.E11x/W11x)."""
    problems: list[Any] = []
    for name, hint in (
        ("CURATOR_IMPORT_CHUNK_BYTES", "e.g. 16M"),
        ("CURATOR_IMPORT_MAX_FILE_BYTES", "e.g. 16G"),
        ("CURATOR_MAX_UPLOAD_FILES", "e.g. 100"),
        ("CURATOR_IMPORT_PROCESSES", "1 imports in the job's own process"),
    ):
        if getattr(settings, name) < 1:
            problems.append(Error(f"{name} must be positive.", hint=hint, id="curation.E110"))
    if settings.CURATOR_MAX_LINE_BYTES > settings.CURATOR_IMPORT_MAX_FILE_BYTES:
        problems.append(
            Warning(
                "CURATOR_MAX_LINE_BYTES is larger than CURATOR_IMPORT_MAX_FILE_BYTES: the file "
                "limit will stop imports before the line limit applies.",
                id="curation.W110",
            )
        )
    return problems


def check_storage() -> list[Any]:
    """CURATOR_STORAGE must be s3://bucket/prefix (or empty), with the S3 client installed."""
    value = getattr(settings, "CURATOR_STORAGE", "")
    try:
        location = parse_storage_url(value)
    except ValueError as error:
        return [
            Error(
                f"CURATOR_STORAGE: {error}.",
                hint="Use s3://bucket/prefix, or leave it empty for the local MEDIA_ROOT.",
                id="curation.E030",
            )
        ]
    if location is not None and not (
        importlib.util.find_spec("storages") and importlib.util.find_spec("boto3")
    ):
        return [
            Error(
                "CURATOR_STORAGE names an S3 bucket but django-storages or boto3 is missing.",
                hint="Install the project's dependencies (pip install -e .).",
                id="curation.E031",
            )
        ]
    return []
