"""System checks name bad registry and ingest settings."""

from __future__ import annotations

from training.registry.checks import check_registry_settings


def ids(settings) -> set[str]:
    return {problem.id for problem in check_registry_settings()}


def test_defaults_pass(settings):
    assert ids(settings) == set()


def test_bad_settings_are_named(settings):
    settings.CURATOR_REGISTRY_WEBHOOK_URL = "ftp://example.invalid/hook"
    settings.CURATOR_REGISTRY_WEBHOOK_SECRET = ""
    settings.CURATOR_INGEST_MAX_BYTES = 0
    settings.CURATOR_INGEST_RATE_LIMIT = -1
    settings.CURATOR_RETRAIN_POLL_SECONDS = 600
    assert ids(settings) == {
        "registry.E001",
        "registry.W001",
        "registry.E002",
        "registry.E003",
        "registry.E004",
    }
