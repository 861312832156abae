"""The settings of a local LoRA fine-tune as a job stores them, the launch form shows them
and the engine takes them: defaults, cleaning (form values, CLI strings, stored dicts) and
the conversion into the engine's ``LoraSettings`` and ``TrainSettings``.

Torch-free: the web process (models, forms, the launch check) imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from training.local import LoraSettings, TrainSettings

ALL_LINEAR = "all-linear"
_MODULE_NAME = re.compile(r"^[A-Za-z0-9_.]+$")

# The LoRA and training settings a local job stores in FineTuneJob.hyperparameters, next to
# the hosted n_epochs and batch_size (which mean the same here), with their page labels.
LOCAL_HYPERPARAMETERS: dict[str, str] = {
    "learning_rate": "Learning rate",
    "grad_accum": "Gradient accumulation steps",
    "max_seq_length": "Max sequence length",
    "packing": "Packing",
    "bf16": "bf16",
    "lora_rank": "LoRA rank",
    "lora_alpha": "LoRA alpha",
    "lora_dropout": "LoRA dropout",
    "lora_target_modules": "LoRA target modules",
    "eval_every": "Validate every (steps)",
    "save_every": "Checkpoint every (steps)",
    "max_steps": "Max steps",
    "merge_weights": "Merged weights",
    "gpus": "GPUs",
}
_TRAIN_KEYS: tuple[str, ...] = ("learning_rate", "grad_accum", "max_seq_length", "packing", "bf16")
_TRAIN_KEYS += ("eval_every", "save_every", "max_steps")
_INTEGERS: tuple[str, ...] = (
    "grad_accum",
    "max_seq_length",
    "lora_rank",
    "lora_alpha",
    "eval_every",
)
_INTEGERS += ("save_every", "max_steps", "gpus")
_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"false", "off", "0", "no", ""}


class LocalSettingError(ValueError):
    """A local setting is invalid; ``field`` names the hyperparameter key."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        super().__init__(message)


def settings_record(
    lora: LoraSettings, train: TrainSettings, *, bf16: bool | str, merge: bool
) -> dict[str, Any]:
    """The LOCAL_HYPERPARAMETERS of ``lora`` and ``train`` as a job stores them, in the
    order the job page lists them. ``bf16`` and ``merge`` are passed in because the
    defaults keep the setting ("auto") while a finished run records what it used."""
    target = lora.target_modules
    return {
        "learning_rate": train.learning_rate,
        "grad_accum": train.grad_accum,
        "max_seq_length": train.max_seq_length,
        "packing": train.packing,
        "bf16": bf16,
        "lora_rank": lora.rank,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "lora_target_modules": target if isinstance(target, str) else ",".join(target),
        "eval_every": train.eval_every,
        "save_every": train.save_every,
        "max_steps": train.max_steps,
        "merge_weights": merge,
    }


def local_defaults() -> dict[str, Any]:
    """Every local hyperparameter at the engine's default, as stored on a job; the GPUs
    one job uses (torchrun processes) default to ``CURATOR_LOCAL_GPUS``."""
    lora, train = LoraSettings(), TrainSettings()
    return {
        **settings_record(lora, train, bf16=train.bf16, merge=False),
        "gpus": int(getattr(settings, "CURATOR_LOCAL_GPUS", 1)),
    }


def _boolean(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise LocalSettingError(name, f"{LOCAL_HYPERPARAMETERS[name]}: expected on or off, got {raw!r}")


def _clean_value(name: str, raw: Any, default: Any) -> Any:
    label = LOCAL_HYPERPARAMETERS[name]
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if name in ("packing", "merge_weights"):
        return _boolean(name, raw)
    if name == "bf16":
        if isinstance(raw, str) and raw.strip().lower() == "auto":
            return "auto"
        return _boolean(name, raw)
    if name == "lora_target_modules":
        text = raw if isinstance(raw, str) else ",".join(str(item) for item in raw)
        names = [part.strip() for part in text.split(",") if part.strip()]
        if names == [ALL_LINEAR]:
            return ALL_LINEAR
        bad = [part for part in names if not _MODULE_NAME.match(part)]
        if not names or bad:
            raise LocalSettingError(
                name, f"{label}: '{ALL_LINEAR}' or module names separated by commas"
            )
        return ",".join(names)
    try:
        if name in _INTEGERS:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(raw.strip() if isinstance(raw, str) else raw)
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        kind = "a whole number" if name in _INTEGERS else "a number"
        raise LocalSettingError(name, f"{label}: expected {kind}, got {raw!r}") from None
    return value


# (minimum, maximum) of each number; None: unbounded on that side.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "learning_rate": (None, 1.0),
    "grad_accum": (1, 1024),
    "max_seq_length": (16, 1_048_576),
    "lora_rank": (1, 1024),
    "lora_alpha": (1, 4096),
    "lora_dropout": (0.0, None),
    "eval_every": (0, None),
    "save_every": (0, None),
    "max_steps": (1, None),
    "gpus": (1, 64),
}


def clean_local_hyperparameters(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The local settings of ``raw`` (form values, CLI strings or a stored dict), missing
    ones at their defaults, checked against the engine's own rules.

    Raises LocalSettingError naming the key at fault.
    """
    cleaned = {
        name: _clean_value(name, raw.get(name), default)
        for name, default in local_defaults().items()
    }
    if cleaned["max_steps"] == 0:
        cleaned["max_steps"] = None  # "0 steps" can only mean "no cap"
    for name, (low, high) in _RANGES.items():
        value = cleaned[name]
        if value is None:
            continue
        label = LOCAL_HYPERPARAMETERS[name]
        if low is not None and value < low:
            raise LocalSettingError(name, f"{label}: at least {low:g}")
        if high is not None and value > high:
            raise LocalSettingError(name, f"{label}: at most {high:g}")
    if cleaned["learning_rate"] <= 0:
        raise LocalSettingError(
            "learning_rate", "Learning rate: must be positive (2e-4 is typical)"
        )
    if cleaned["lora_dropout"] >= 1:
        raise LocalSettingError("lora_dropout", "LoRA dropout: below 1 (0.05 is typical)")
    try:
        # The engine's own checks, so nothing it would refuse gets queued.
        lora_settings(cleaned)
        train_settings(cleaned, seed=None)
    except ValueError as error:
        raise LocalSettingError(None, str(error)) from None
    return cleaned


def relaunch_values(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """A job's local settings as the launch form reads them from a query string."""
    values: dict[str, str] = {}
    for name in LOCAL_HYPERPARAMETERS:
        if name not in hyperparameters:
            continue
        value = hyperparameters[name]
        if isinstance(value, bool):
            # A checkbox is checked by any non-empty value; "bf16" is a choice of three.
            values[name] = (
                ("true" if value else "false") if name == "bf16" else ("on" if value else "")
            )
        else:
            values[name] = "" if value is None else str(value)
    return values


def lora_settings(hyperparameters: Mapping[str, Any]) -> LoraSettings:
    defaults = LoraSettings()
    target = hyperparameters.get("lora_target_modules") or ALL_LINEAR
    return LoraSettings(
        rank=int(hyperparameters.get("lora_rank", defaults.rank)),
        alpha=int(hyperparameters.get("lora_alpha", defaults.alpha)),
        dropout=float(hyperparameters.get("lora_dropout", defaults.dropout)),
        target_modules=target if target == ALL_LINEAR else target.split(","),
    )


def train_settings(hyperparameters: Mapping[str, Any], *, seed: int | None) -> TrainSettings:
    """The engine's settings for a job: n_epochs and batch_size "auto" take the engine's
    defaults, as does an empty seed."""
    defaults = TrainSettings()
    values = {key: hyperparameters[key] for key in _TRAIN_KEYS if key in hyperparameters}
    epochs = hyperparameters.get("n_epochs")
    batch_size = hyperparameters.get("batch_size")
    return TrainSettings(
        **values,
        epochs=epochs if isinstance(epochs, int) else defaults.epochs,
        batch_size=batch_size if isinstance(batch_size, int) else defaults.batch_size,
        seed=seed if seed is not None else defaults.seed,
    )
