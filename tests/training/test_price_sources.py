"""Every seeded price and token limit names where it comes from (a vendor page read on a
date, or "unverified"), and Fireworks' preference (DPO) jobs are priced."""

from __future__ import annotations

import importlib
import re
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings

from curation.models import DatasetVersion, TrainingPrice
from tests.factories import built_version
from tests.training.test_hosted_providers import MODELS, hosted  # noqa: F401
from training.services import check_launch
from training.simulator import SimulatorServer

CITED = re.compile(r"https://\S+ \(read \d{4}-\d{2}-\d{2}\)")


def cited(text: Any) -> bool:
    """A source is a vendor page with the date it was read, or says it is unverified."""
    return isinstance(text, str) and (text.startswith("unverified") or bool(CITED.search(text)))


@pytest.mark.parametrize("key", ["source", "limit_source"])
def test_every_seeded_price_row_cites_where_its_figure_comes_from(key: str) -> None:
    rows = settings.CURATOR_TRAINING_PRICES

    uncited = [
        (row["provider"], row["model"], row.get("method"))
        for row in rows
        if not cited(row.get(key))
    ]

    assert rows and uncited == []


def test_a_source_that_is_neither_a_dated_page_nor_unverified_is_not_a_citation() -> None:
    assert not cited("together.ai/pricing")
    assert not cited("https://fireworks.ai/pricing")
    assert not cited(None)
    assert cited("https://fireworks.ai/pricing (read 2026-12-07): $0.50")


def test_the_one_verified_rate_is_the_one_the_cited_page_gives() -> None:
    # fireworks.ai/pricing (read 2026-12-07): models up to 16B, $0.50 per 1M training tokens.
    verified = [
        row
        for row in settings.CURATOR_TRAINING_PRICES
        if not row["source"].startswith("unverified")
    ]

    assert {row["provider"] for row in verified} == {"fireworks"}
    assert {row["price_per_million"] for row in verified} == {0.5}
    assert {row.get("method", "supervised") for row in verified} == {"supervised"}


def test_together_sft_limits_are_the_ones_togethers_supported_models_page_gives() -> None:
    # togethercomputer/skills references/supported-models.md (read 2026-12-07), "Context
    # (SFT)": 131K, 131K and 32K.
    published = {
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": 131072,
        "meta-llama/Llama-3.2-3B-Instruct": 131072,
        "Qwen/Qwen2.5-7B-Instruct": 32768,
    }
    rows = [
        row
        for row in settings.CURATOR_TRAINING_PRICES
        if row["provider"] == "together" and row["method"] == "supervised"
    ]

    assert {row["model"]: row["token_limit"] for row in rows} == published
    assert all("togethercomputer/skills" in row["limit_source"] for row in rows)


@pytest.mark.django_db
def test_a_fireworks_dpo_launch_has_a_cost(
    hosted: SimulatorServer,  # noqa: F811
    dataset: Any,
) -> None:
    version: DatasetVersion = built_version(dataset, train=12, validation=3)

    check = check_launch(
        version=version, provider="fireworks", base_model=MODELS["fireworks"], method="dpo"
    )

    assert check.price is not None and check.price.method == "dpo"
    assert check.cost is not None and check.cost > 0


@pytest.mark.django_db
def test_the_migration_adds_fireworks_dpo_rates_to_an_existing_table_keeping_staff_rows(
    admin_user: Any,
) -> None:
    TrainingPrice.objects.create(
        provider="fireworks",
        model="accounts/fireworks/models/qwen2p5-7b-instruct",
        method="dpo",
        price_per_million=Decimal("0.9"),
        token_limit=8192,
        updated_by=admin_user,
    )
    migration = importlib.import_module("curation.migrations.0015_seed_fireworks_dpo_prices")

    migration.forwards(apps, None)
    migration.forwards(apps, None)  # twice: nothing doubles

    rows = TrainingPrice.objects.filter(provider="fireworks", method="dpo")
    assert rows.count() == 3
    assert rows.get(model__contains="qwen2p5").price_per_million == Decimal("0.9")
    assert rows.get(model__contains="llama-v3p1-8b").price_per_million == Decimal("0.5")


@pytest.mark.django_db
def test_the_migration_leaves_an_empty_table_to_the_seed() -> None:
    migration = importlib.import_module("curation.migrations.0015_seed_fireworks_dpo_prices")

    migration.forwards(apps, None)

    assert not TrainingPrice.objects.exists()
