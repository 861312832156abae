"""What providers charge to train, and the epochs they pick by default."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models

__all__ = [
    "Estimate",
    "PricedMethod",
    "PricedTrainingType",
    "TrainingPrice",
    "estimate_cost",
    "training_epochs",
]


# OpenAI's fine-tuning data-preparation cookbook: aim for 3 epochs, but see at least 100 and at
# most 25,000 examples in total (between 1 and 25 epochs).
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def training_epochs(examples: int) -> int:
    """The epochs a provider picks by default for this many training examples."""
    if examples <= 0:
        return 0
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, math.ceil(MIN_TARGET_EXAMPLES / examples))
    if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return TARGET_EPOCHS


class TrainingPriceQuerySet(models.QuerySet):
    def seeded(self) -> TrainingPriceQuerySet:
        """Every price, first filling an empty table from settings.CURATOR_TRAINING_PRICES."""
        if not self.exists():
            self.bulk_create(
                [
                    self.model(
                        provider=row["provider"],
                        model=row["model"],
                        price_per_million=Decimal(str(row["price_per_million"])),
                        token_limit=int(row["token_limit"]),
                        method=row.get("method", PricedMethod.SUPERVISED),
                        training_type=row.get("training_type", PricedTrainingType.LORA),
                    )
                    for row in getattr(settings, "CURATOR_TRAINING_PRICES", [])
                ],
                ignore_conflicts=True,
            )
        return self.all()


class PricedMethod(models.TextChoices):
    SUPERVISED = "supervised", "Supervised (SFT)"
    DPO = "dpo", "Preference (DPO)"


class PricedTrainingType(models.TextChoices):
    # OpenAI and Azure train one way and price it as "lora"; Together prices LoRA and full
    # fine-tuning separately.
    LORA = "lora", "LoRA"
    FULL = "full", "Full"


class TrainingPrice(models.Model):
    """What a provider charges to train a base model with one method and training type, for
    cost estimates (editable by staff)."""

    provider = models.CharField(max_length=64)
    model = models.CharField("base model", max_length=200)
    method = models.CharField(
        max_length=16, choices=PricedMethod.choices, default=PricedMethod.SUPERVISED
    )
    training_type = models.CharField(
        max_length=8, choices=PricedTrainingType.choices, default=PricedTrainingType.LORA
    )
    price_per_million = models.DecimalField(
        "USD per million trained tokens", max_digits=10, decimal_places=4
    )
    token_limit = models.PositiveIntegerField(
        "per-example token limit", help_text="Longer examples are billed (and cut) at this length."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TrainingPriceQuerySet.as_manager()

    class Meta:
        ordering = ["provider", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model", "method", "training_type"],
                name="unique_training_price",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.provider} {self.model} ({self.get_method_display()}, "
            f"{self.get_training_type_display()}): ${self.price_per_million}/M tokens"
        )


MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Estimate:
    epochs: int
    billed_tokens: int
    cost: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "billed_tokens": self.billed_tokens, "cost": self.cost}


def estimate_cost(
    *,
    price: TrainingPrice | None,
    examples: int,
    capped_tokens: int,
    epochs: int | None = None,
    validation_tokens: int = 0,
    validation_passes: int = 0,
) -> Estimate:
    """Epochs, billed tokens and USD to train on ``examples`` examples whose token counts,
    each capped at the model's per-example limit, add up to ``capped_tokens``. ``epochs``
    None means the provider's default for that many examples. Providers that bill their
    evaluations (Together: n_epochs x training tokens + n_evals x validation tokens) pass
    ``validation_passes``. Without a price (own GPUs, a model missing from the table) the
    cost is zero."""
    chosen = training_epochs(examples) if epochs is None else epochs
    billed = chosen * capped_tokens + validation_passes * validation_tokens
    cost = Decimal(0)
    if price is not None:
        cost = (Decimal(billed) * price.price_per_million / MILLION).quantize(Decimal("0.0001"))
        # Cents where that loses nothing (most estimates); tiny runs keep their 4 places.
        if cost == cost.quantize(Decimal("0.01")):
            cost = cost.quantize(Decimal("0.01"))
    return Estimate(epochs=chosen, billed_tokens=billed, cost=cost)
