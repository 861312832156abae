"""System checks name bad training settings before a launch or a worker trips on them."""

from __future__ import annotations

from typing import Any

from training.checks import check_training_settings


def ids(settings: Any) -> set[str]:
    return {problem.id for problem in check_training_settings()}


def test_the_shipped_settings_pass(settings: Any) -> None:
    assert not {i for i in ids(settings) if i.startswith("training.E")}


def test_a_cutoff_that_is_not_a_date_is_an_error(settings: Any) -> None:
    settings.CURATOR_OPENAI_FINE_TUNING_ENDS = "next January"

    assert "training.E001" in ids(settings)


def test_a_bad_provider_list_is_an_error(settings: Any) -> None:
    settings.CURATOR_TRAINING_PROVIDERS = [{"name": "x", "kind": "mistral"}]

    assert "training.E004" in ids(settings)


def test_zero_gpus_is_an_error(settings: Any) -> None:
    settings.CURATOR_LOCAL_GPUS = 0

    assert "training.E003" in ids(settings)
