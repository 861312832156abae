"""System checks for the training settings (ids training.E0xx/W0xx): wrong ones would
otherwise fail at the first launch, or in a worker."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from training.providers import provider_configs


@register(Tags.compatibility)
def check_training_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    for name in ("CURATOR_OPENAI_FINE_TUNING_WARN_FROM", "CURATOR_OPENAI_FINE_TUNING_ENDS"):
        try:
            date.fromisoformat(str(getattr(settings, name)))
        except ValueError:
            problems.append(
                Error(
                    f"{name}={getattr(settings, name)!r} is not a date.",
                    hint="YYYY-MM-DD",
                    id="training.E001",
                )
            )
    for row in getattr(settings, "CURATOR_MODEL_END_DATES", []):
        try:
            date.fromisoformat(str(row["ends"]))
        except (KeyError, TypeError, ValueError):
            problems.append(
                Error(
                    f"CURATOR_MODEL_END_DATES has a row without a valid 'ends' date: {row!r}",
                    hint="{'provider': ..., 'model': ..., 'ends': 'YYYY-MM-DD'}",
                    id="training.E002",
                )
            )
    if int(getattr(settings, "CURATOR_LOCAL_GPUS", 1)) < 1:
        problems.append(Error("CURATOR_LOCAL_GPUS must be at least 1.", id="training.E003"))
    try:
        configs = provider_configs()
    except ImproperlyConfigured as error:
        return [*problems, Error(str(error), id="training.E004")]
    for config in configs:
        account_env = str(config.options.get("account_id_env") or "FIREWORKS_ACCOUNT_ID")
        if config.kind == "fireworks" and not config.simulated and not os.environ.get(account_env):
            problems.append(
                Warning(
                    f"{config.label} has an API key but no account id: launches will fail.",
                    hint=f"Set {account_env} to the Fireworks account the key belongs to.",
                    id="training.W001",
                )
            )
    return problems
