"""The one price table and the one cost estimator.

Prices and per-example token limits live in the ``TrainingPrice`` table (seeded from
``CURATOR_TRAINING_PRICES``, edited by staff at /prices/), keyed by the provider's price
key: its ``prices`` option, else the API it speaks ("openai", "together", "fireworks").
The version cost preview, the launch check and the job page all estimate through
:func:`curation.models.prices.estimate_cost` (beside the table it reads, so the version
preview in `curation` needs nothing from `training`): an edit at /prices/ changes every
estimate at once.
Which models a provider offers is the table's too, unless its settings entry lists
``models`` itself (local GPUs, a self-hosted server).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings

from curation.models.prices import (
    PricedMethod,
    PricedTrainingType,
    TrainingPrice,
    estimate_cost,
)
from training.providers import ModelInfo, ProviderConfig
from training.providers.registry import VALIDATION_PASSES


def price_key(config: ProviderConfig) -> str:
    return str(config.options.get("prices") or config.shape)


def price_for(
    config: ProviderConfig,
    model: str,
    *,
    method: str = PricedMethod.SUPERVISED,
    training_type: str = PricedTrainingType.LORA,
) -> TrainingPrice | None:
    """The row for this model, method ("supervised" or "dpo") and training type ("lora" or
    "full"); None where the table has none (the estimate then says it is unknown)."""
    return (
        TrainingPrice.objects.seeded()
        .filter(provider=price_key(config), model=model, method=method, training_type=training_type)
        .first()
    )


def billed_validation_passes(config: ProviderConfig, *, has_validation: bool) -> int:
    """How many times the provider bills the validation file (Together: once per
    evaluation, and Curator asks for N_EVALS of them)."""
    return VALIDATION_PASSES.get(config.kind, 0) if has_validation else 0


def offered_models(config: ProviderConfig) -> dict[str, ModelInfo]:
    """The base models to offer for ``config``: its own list, else the price table's."""
    if config.models:
        return dict(config.models)
    rows = (
        TrainingPrice.objects.seeded()
        .filter(provider=price_key(config))
        .order_by("model", "-method", "-training_type")
    )
    # One entry per model: its supervised LoRA row's limit where it has one.
    offered: dict[str, ModelInfo] = {}
    for row in rows:
        offered.setdefault(row.model, ModelInfo(name=row.model, token_limit=row.token_limit))
    return offered


def model_end_date(config: ProviderConfig, model: str) -> date | None:
    """When the model stops being trainable there (``CURATOR_MODEL_END_DATES`` rows:
    {"provider": key, "model": name, "ends": "YYYY-MM-DD"}), if known. OpenAI's dates are
    OpenAI's own API's: Azure, the simulator and compatible servers keep theirs (or none)."""
    if price_key(config) == "openai" and not config.is_openai_platform:
        return None
    for row in getattr(settings, "CURATOR_MODEL_END_DATES", []):
        if row.get("provider") == price_key(config) and row.get("model") == model:
            return date.fromisoformat(str(row["ends"]))
    return None


def cost_of_tokens(
    config: ProviderConfig,
    model: str,
    tokens: int,
    *,
    method: str = PricedMethod.SUPERVISED,
    training_type: str = PricedTrainingType.LORA,
) -> Decimal | None:
    """List price of ``tokens`` billed tokens (epochs and billed evaluations included),
    None if unpriced."""
    price = price_for(config, model, method=method, training_type=training_type)
    if price is None:
        return None
    return estimate_cost(price=price, examples=1, capped_tokens=tokens, epochs=1).cost
