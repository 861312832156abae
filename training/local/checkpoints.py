"""A checkpoint of a run: the adapter, and what a resumed run needs to go on exactly where
it stopped (optimizer, schedule, data position, tokens counted, loss history) in
``trainer_state.pt``.

Importing this module imports torch: only the training processes do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel, set_peft_model_state_dict
from safetensors.torch import load_file

from training.local import TRAINER_STATE


def save_checkpoint(
    path: Path,
    *,
    model: PeftModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    extra_files: Callable[[Path], object] | None,
    progress: dict[str, Any],
) -> None:
    """Write the adapter, ``extra_files`` (the tokenizer, so the checkpoint is usable on its
    own) and the trainer state with ``progress`` (step, tokens, history, world size, seed)."""
    model.save_pretrained(str(path))
    if extra_files is not None:
        extra_files(path)
    torch.save(
        {
            **progress,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        },
        path / TRAINER_STATE,
    )


def load_checkpoint(
    path: Path,
    *,
    model: PeftModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
) -> dict[str, Any]:
    """Put the checkpoint's adapter weights, optimizer and schedule back; its trainer state
    (with the progress it was saved with)."""
    state: dict[str, Any] = torch.load(
        path / TRAINER_STATE, map_location=device, weights_only=False
    )
    set_peft_model_state_dict(
        model, load_file(str(path / "adapter_model.safetensors"), device=str(device))
    )
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state
