"""One price table, one estimator: editing a price changes the version preview, the launch
check and the job page's cost alike."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from curation.models import TrainingPrice
from curation.services.versions.preview import preview_version
from tests.factories import FineTuneJobFactory, built_version
from training.services import check_launch

pytestmark = pytest.mark.django_db

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def sim(settings: Any, simulator: Any) -> Any:
    settings.CURATOR_TRAINING_PROVIDERS = [
        {"name": "sim", "kind": "simulator", "base_url": simulator.base_url, "timeout": 5}
    ]
    return simulator


def test_editing_a_price_changes_every_estimate(sim: Any, dataset: Any) -> None:
    version = built_version(dataset, train=12, validation=3)
    job = FineTuneJobFactory(
        dataset=dataset, version=version, provider="sim", trained_tokens=1_000_000
    )
    before_check = check_launch(version=version, provider="sim", base_model=MODEL).cost
    before_job = job.actual_cost()

    TrainingPrice.objects.filter(provider="openai", model=MODEL).update(
        price_per_million=Decimal("50")
    )

    after_check = check_launch(version=version, provider="sim", base_model=MODEL).cost
    assert before_job == Decimal("5.00") and job.actual_cost() == Decimal("50.00")
    assert after_check == before_check * 10
    preview = preview_version(dataset=dataset, filter={}, validation_fraction=0.2, seed=1)
    [row] = [
        e
        for e in preview.estimates
        if e["price"].model == MODEL and e["price"].provider == "openai"
    ]
    assert row["price"].price_per_million == Decimal("50")


def test_a_provider_offers_the_models_the_table_prices(sim: Any, dataset: Any) -> None:
    TrainingPrice.objects.seeded()
    TrainingPrice.objects.create(
        provider="openai", model="gpt-new-ft", price_per_million=Decimal(1), token_limit=1000
    )

    check = check_launch(version=built_version(dataset), provider="sim", base_model="gpt-new-ft")

    assert check.model is not None and check.model.token_limit == 1000
