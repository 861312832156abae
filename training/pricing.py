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

from curation.models.prices import TrainingPrice, estimate_cost
from training.providers import ModelInfo, ProviderConfig


def price_key(config: ProviderConfig) -> str:
    return str(config.options.get("prices") or config.shape)


def price_for(config: ProviderConfig, model: str) -> TrainingPrice | None:
    return TrainingPrice.objects.seeded().filter(provider=price_key(config), model=model).first()


def offered_models(config: ProviderConfig) -> dict[str, ModelInfo]:
    """The base models to offer for ``config``: its own list, else the price table's."""
    if config.models:
        return dict(config.models)
    rows = TrainingPrice.objects.seeded().filter(provider=price_key(config)).order_by("model")
    return {row.model: ModelInfo(name=row.model, token_limit=row.token_limit) for row in rows}


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


def cost_of_tokens(config: ProviderConfig, model: str, tokens: int) -> Decimal | None:
    """List price of ``tokens`` trained tokens (epochs included), None if unpriced."""
    price = price_for(config, model)
    if price is None:
        return None
    return estimate_cost(price=price, examples=1, capped_tokens=tokens, epochs=1).cost
