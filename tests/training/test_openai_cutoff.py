"""OpenAI's fine-tuning end date: a warning on the launch page before it, a refusal naming
the alternatives after it, on OpenAI's own API only (the dates are settings)."""

from __future__ import annotations

from typing import Any

import pytest

from curation.models import DatasetVersion
from tests.factories import DEFAULT_MODELS, built_version
from training.services import check_launch

pytestmark = pytest.mark.django_db

MODEL = "gpt-4.1-mini-2025-04-14"
# No request leaves: refused launches are not pinged, and the warning tests use the
# simulator entry for every ping.
OPENAI = {
    "name": "openai",
    "kind": "openai",
    "api_key_env": "CURATOR_TEST_OPENAI_KEY",
    "timeout": 1,
}
TOGETHER = {"name": "together", "kind": "together", "api_key_env": "CURATOR_TEST_NO_KEY"}


@pytest.fixture
def version(dataset: Any) -> DatasetVersion:
    return built_version(dataset)


@pytest.fixture
def providers(settings: Any, monkeypatch: Any, simulator: Any) -> Any:
    monkeypatch.setenv("CURATOR_TEST_OPENAI_KEY", "sk-real-looking")
    monkeypatch.delenv("CURATOR_TEST_NO_KEY", raising=False)
    settings.CURATOR_SIMULATOR_URL = simulator.base_url
    settings.CURATOR_TRAINING_PROVIDERS = [
        OPENAI,
        TOGETHER,
        {
            "name": "azure",
            "kind": "openai",
            "label": "Azure OpenAI",
            "base_url": simulator.url + "/openai/v1",
            "api_key_env": "CURATOR_TEST_OPENAI_KEY",
            "azure": True,
            "models": DEFAULT_MODELS,
        },
        {
            "name": "sim",
            "kind": "simulator",
            "base_url": simulator.base_url,
            "models": DEFAULT_MODELS,
        },
    ]
    settings.CURATOR_MODEL_END_DATES = []
    return settings


def test_after_the_cutoff_openais_own_api_is_refused_naming_the_alternatives(
    providers: Any, version: DatasetVersion
) -> None:
    providers.CURATOR_OPENAI_FINE_TUNING_ENDS = "2026-11-01"

    check = check_launch(version=version, provider="openai", base_model=MODEL)

    assert not check.ok
    [problem] = [p for p in check.problems if "stopped taking new fine-tuning jobs" in p]
    assert "1 November 2026" in problem
    assert "Together AI (simulated)" in problem and "Azure OpenAI" in problem


def test_before_the_cutoff_the_launch_page_warns(providers: Any, version: DatasetVersion) -> None:
    providers.CURATOR_OPENAI_FINE_TUNING_ENDS = "2099-01-06"
    providers.CURATOR_OPENAI_FINE_TUNING_WARN_FROM = "2000-01-01"

    check = check_launch(version=version, provider="openai", base_model=MODEL)

    assert any("stops taking new fine-tuning jobs on 6 January 2099" in n for n in check.notices)
    assert not any("stopped taking" in p for p in check.problems)


@pytest.mark.parametrize("provider", ["azure", "sim"])
def test_other_base_urls_keep_their_own_dates(
    providers: Any, version: DatasetVersion, provider: str
) -> None:
    providers.CURATOR_OPENAI_FINE_TUNING_ENDS = "2026-11-01"

    check = check_launch(version=version, provider=provider, base_model=MODEL)

    assert check.ok, check.problems
    assert not check.notices


def test_a_model_end_date_is_announced_then_enforced(
    providers: Any, version: DatasetVersion
) -> None:
    model = "meta-llama/Llama-3.2-3B-Instruct"
    providers.CURATOR_MODEL_END_DATES = [
        {"provider": "together", "model": model, "ends": "2099-01-14"}
    ]
    check = check_launch(version=version, provider="together", base_model=model)
    assert any("retired at" in n for n in check.notices)

    providers.CURATOR_MODEL_END_DATES = [
        {"provider": "together", "model": model, "ends": "2026-01-14"}
    ]
    check = check_launch(version=version, provider="together", base_model=model)
    assert any("was retired" in p for p in check.problems)


def test_openais_model_end_dates_do_not_apply_to_the_simulator(
    providers: Any, version: DatasetVersion
) -> None:
    providers.CURATOR_MODEL_END_DATES = [
        {"provider": "openai", "model": MODEL, "ends": "2026-01-14"}
    ]

    check = check_launch(version=version, provider="sim", base_model=MODEL)

    assert check.ok, check.problems
