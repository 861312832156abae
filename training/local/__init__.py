"""Local LoRA fine-tuning: the torch-free surface.

The web process imports this package to show defaults, validate a launch form and store
hyperparameters, so nothing here may import torch, transformers or peft. The GPU worker
imports ``training.local.engine`` (which does) only inside the job that trains.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Self, runtime_checkable

# Distributions of the ``local-training`` extra; checked by name so the check stays import-free.
EXTRA_MODULES = ("torch", "transformers", "peft")


# What a checkpoint holds besides the adapter (optimizer, schedule, data position), so a
# retried run resumes where it stopped.
TRAINER_STATE = "trainer_state.pt"


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message says what to change."""


def is_available() -> bool:
    """Whether the ``local-training`` extra is installed, without importing it."""
    return all(importlib.util.find_spec(name) is not None for name in EXTRA_MODULES)


class _Settings:
    """Shared dict round-tripping for the settings dataclasses (stored as job JSON)."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]  # mixed into dataclasses only

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # mixed into dataclasses only
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class LoraSettings(_Settings):
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # "all-linear" is peft's shorthand for every linear layer except the output head.
    target_modules: str | list[str] = "all-linear"

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError("LoRA rank must be at least 1")
        if self.alpha <= 0:
            raise ValueError("LoRA alpha must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("LoRA dropout must be in [0, 1)")
        if not self.target_modules:
            raise ValueError("LoRA target_modules must not be empty")


@dataclass(frozen=True)
class TrainSettings(_Settings):
    epochs: int = 3
    learning_rate: float = 2e-4
    # Rows per micro-batch. With packing a row holds max_seq_length tokens of several examples.
    batch_size: int = 4
    grad_accum: int = 1
    max_seq_length: int = 2048
    packing: bool = True
    bf16: bool | Literal["auto"] = "auto"
    seed: int = 42
    # 0 turns periodic work off; validation still runs before the first and after the last step.
    eval_every: int = 50
    save_every: int = 200
    # None trains for `epochs`; a number caps the optimizer steps (smoke runs, benchmarks).
    max_steps: int | None = None
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool = False
    compile: bool = False
    attn_implementation: str = "sdpa"

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "grad_accum", "max_seq_length")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if self.eval_every < 0 or self.save_every < 0:
            raise ValueError("eval_every and save_every must be 0 (off) or positive")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be at least 1 when set")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError("warmup_ratio must be in [0, 1)")
        if self.bf16 not in (True, False, "auto"):
            raise ValueError('bf16 must be true, false or "auto"')


def defaults_as_dict() -> dict[str, dict[str, Any]]:
    """Defaults for the launch page, grouped the way the engine takes them."""
    return {"lora": LoraSettings().as_dict(), "train": TrainSettings().as_dict()}


@runtime_checkable
class TrainingCallbacks(Protocol):
    """What the engine reports to its caller (the RQ job) while it trains.

    Calls come from the training thread, between steps; they should be quick, because the GPU
    idles while they run.
    """

    def on_event(self, level: str, message: str) -> None: ...

    def on_step(
        self,
        step: int,
        total_steps: int,
        train_loss: float,
        learning_rate: float,
        tokens_seen: int,
    ) -> None: ...

    def on_eval(self, step: int, valid_loss: float) -> None: ...

    def on_checkpoint(self, step: int, path: Path) -> None: ...

    def should_stop(self) -> bool: ...


class NullCallbacks:
    """A TrainingCallbacks that ignores everything; subclass to override what you need."""

    def on_event(self, level: str, message: str) -> None:
        return None

    def on_step(
        self,
        step: int,
        total_steps: int,
        train_loss: float,
        learning_rate: float,
        tokens_seen: int,
    ) -> None:
        return None

    def on_eval(self, step: int, valid_loss: float) -> None:
        return None

    def on_checkpoint(self, step: int, path: Path) -> None:
        return None

    def should_stop(self) -> bool:
        return False


@dataclass
class TrainResult:
    status: Literal["completed", "cancelled"]
    steps: int
    total_steps: int
    tokens_seen: int
    trained_tokens: int
    train_loss: float | None
    valid_loss: float | None
    seconds: float
    device: str
    precision: str
    train_examples: int
    validation_examples: int
    # Set only for completed runs: a cancelled run keeps its checkpoints but no final adapter.
    adapter_dir: Path | None = None
    merged_dir: Path | None = None
    summary_path: Path | None = None
    checkpoints: list[Path] = field(default_factory=list)


__all__ = [
    "TRAINER_STATE",
    "LoraSettings",
    "NullCallbacks",
    "TrainResult",
    "TrainSettings",
    "TrainingCallbacks",
    "defaults_as_dict",
    "is_available",
]
