"""Prices per provider, method (SFT, DPO) and training type (LoRA, full), with the validation
tokens a provider bills; Azure's models seeded; a model the table does not know is refused."""

from __future__ import annotations

import importlib
import io
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from curation.models import DatasetVersion, TrainingPrice
from tests.factories import built_version
from tests.training.test_hosted_providers import MODELS, hosted  # noqa: F401
from training.models import FineTuneJob
from training.pricing import offered_models
from training.providers import get_config
from training.services import check_launch
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(dataset: Any) -> DatasetVersion:
    # 12 training examples of 30 tokens (360), 3 validation examples (90).
    return built_version(dataset, train=12, validation=3)


@pytest.mark.parametrize(
    ("method", "hyperparameters", "rate"),
    [
        ("supervised", {}, Decimal("0.48")),
        ("supervised", {"lora": False}, Decimal("0.54")),
        ("dpo", {}, Decimal("1.20")),
        ("dpo", {"lora": False}, Decimal("1.35")),
    ],
)
def test_together_prices_each_method_and_training_type_and_bills_its_evaluations(
    hosted: SimulatorServer,  # noqa: F811
    version: DatasetVersion,
    method: str,
    hyperparameters: dict[str, Any],
    rate: Decimal,
) -> None:
    check = check_launch(
        version=version,
        provider="together",
        base_model=MODELS["together"],
        hyperparameters=hyperparameters,
        method=method,
    )

    assert check.price.price_per_million == rate
    # Together's default of 1 epoch over 360 tokens, plus 10 evaluations over 90.
    assert check.epochs == 1
    assert check.billed_tokens == 360 + 10 * 90
    assert check.cost == (Decimal(1260) * rate / 1_000_000).quantize(Decimal("0.0001"))


def test_a_method_the_table_does_not_price_has_an_unknown_cost_not_zero(
    hosted: SimulatorServer,  # noqa: F811
    version: DatasetVersion,
) -> None:
    # Fireworks' DPO rate is seeded; a table without it (staff removed it) prices nothing.
    TrainingPrice.objects.seeded().filter(provider="fireworks", method="dpo").delete()

    check = check_launch(
        version=version, provider="fireworks", base_model=MODELS["fireworks"], method="dpo"
    )

    assert check.price is None
    assert check.cost is None
    assert check.cost_text != "$0.00"


def test_azure_offers_its_seeded_models(settings: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "fake-azure-key")
    settings.CURATOR_TRAINING_PROVIDERS = [
        {
            "name": "azure",
            "kind": "openai",
            "label": "Azure OpenAI",
            "base_url": "https://curator-test.openai.azure.com/openai/v1",
            "api_key_env": "AZURE_OPENAI_API_KEY",
            "azure": True,
            "prices": "azure",
        }
    ]
    offered = offered_models(get_config("azure"))

    assert "gpt-4.1-mini-2025-04-14" in offered
    assert offered["gpt-4.1-mini-2025-04-14"].token_limit == 65536
    assert TrainingPrice.objects.filter(provider="azure", method="dpo").exists()


def test_the_cli_refuses_a_model_the_price_table_does_not_know(
    settings: Any, monkeypatch: Any, dataset: Any
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "fake-azure-key")
    settings.CURATOR_TRAINING_PROVIDERS = [
        {
            "name": "azure",
            "kind": "openai",
            "base_url": "https://curator-test.openai.azure.com/openai/v1",
            "api_key_env": "AZURE_OPENAI_API_KEY",
            "azure": True,
            "prices": "azure",
        }
    ]
    built_version(dataset)

    with pytest.raises(CommandError, match="gpt-invented is not a base model"):
        call_command(
            "finetune",
            "--dataset",
            dataset.slug,
            "--version",
            "1",
            "--provider",
            "azure",
            "--model",
            "gpt-invented",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert not FineTuneJob.objects.exists()


def test_the_migration_brings_an_existing_table_up_to_date_keeping_staff_edits(
    admin_user: Any,
) -> None:
    TrainingPrice.objects.create(
        provider="together",
        model="Qwen/Qwen2.5-7B-Instruct",
        price_per_million=Decimal("0.48"),
        token_limit=8192,
    )
    TrainingPrice.objects.create(
        provider="fireworks",
        model="accounts/fireworks/models/qwen2p5-7b-instruct",
        price_per_million=Decimal("0.6"),
        token_limit=8192,
        updated_by=admin_user,
    )
    migration = importlib.import_module("curation.migrations.0013_seed_azure_and_per_method_prices")

    migration.forwards(apps, None)
    migration.forwards(apps, None)  # twice: nothing doubles

    qwen = TrainingPrice.objects.get(
        provider="together",
        model="Qwen/Qwen2.5-7B-Instruct",
        method="supervised",
        training_type="lora",
    )
    assert qwen.token_limit == 32768
    edited = TrainingPrice.objects.get(provider="fireworks", model__contains="qwen2p5")
    assert edited.token_limit == 8192 and edited.price_per_million == Decimal("0.6")
    assert TrainingPrice.objects.filter(provider="azure").count() == 10
    # Fireworks' DPO rate came with migration 0015, not 0013.
    assert not TrainingPrice.objects.filter(provider="fireworks", method="dpo").exists()
    assert (
        TrainingPrice.objects.filter(provider="together", model="Qwen/Qwen2.5-7B-Instruct").count()
        == 4
    )
