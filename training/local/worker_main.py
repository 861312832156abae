"""One rank of a local training run, started by torchrun (see ``launcher``).

Django-free: it reads its orders from the spec file, trains with the engine, and rank 0
writes what happens as JSON lines for the work horse, which owns the database. A rank whose
work horse has gone stops the whole group.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from training.local import LoraSettings, NullCallbacks, TrainingError, TrainSettings
from training.local.data import DataError, TokenizerError
from training.local.dpo import train_dpo_job
from training.local.engine import train_lora
from training.local.loop import world
from training.local.samples import generate_samples


class FileCallbacks(NullCallbacks):
    """Rank 0's reports as JSON lines; cancel is the stop file's appearance."""

    def __init__(self, *, messages: Path, stop: Path) -> None:
        self.messages = messages
        self.stop = stop

    def _write(self, **message: Any) -> None:
        with self.messages.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(message) + "\n")

    def on_event(self, level: str, message: str) -> None:
        self._write(kind="event", level=level, message=message)

    def on_step(
        self, step: int, total_steps: int, train_loss: float, learning_rate: float, tokens_seen: int
    ) -> None:
        self._write(
            kind="step",
            step=step,
            total_steps=total_steps,
            train_loss=train_loss,
            learning_rate=learning_rate,
            tokens_seen=tokens_seen,
        )

    def on_eval(self, step: int, valid_loss: float) -> None:
        self._write(kind="eval", step=step, valid_loss=valid_loss)

    def on_checkpoint(self, step: int, path: Path) -> None:
        self._write(kind="checkpoint", step=step, path=str(path))

    def should_stop(self) -> bool:
        return self.stop.exists()


def watch_parent(pid: int) -> None:
    """Take the process group down once the work horse that started it is gone."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    parent = int(os.environ.get("CURATOR_PARENT_PID") or 0)
    if parent:
        watch_parent(parent)
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = spec.get("device")
    cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if cuda:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if size > 1:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    rank = world()[0]
    callbacks: Any = (
        FileCallbacks(messages=Path(spec["messages"]), stop=Path(spec["stop"]))
        if rank == 0
        else NullCallbacks()
    )
    try:
        if spec.get("method") == "dpo":
            result = train_dpo_job(
                base_model=spec["base_model"],
                train_path=spec["train_path"],
                output_dir=spec["output_dir"],
                lora=LoraSettings.from_dict(spec["lora"]),
                train=TrainSettings.from_dict(spec["train"]),
                beta=float(spec.get("dpo_beta") or 0.1),
                callbacks=callbacks,
                cache_dir=spec.get("cache_dir"),
                device=device,
            )
        else:
            result = train_lora(
                base_model=spec["base_model"],
                train_path=spec["train_path"],
                validation_path=spec.get("validation_path"),
                output_dir=spec["output_dir"],
                lora=LoraSettings.from_dict(spec["lora"]),
                train=TrainSettings.from_dict(spec["train"]),
                callbacks=callbacks,
                cache_dir=spec.get("cache_dir"),
                dataset_info=spec.get("dataset_info"),
                merge=bool(spec.get("merge")),
                device=device,
                resume_from=spec.get("resume_from"),
            )
    except (TrainingError, DataError, TokenizerError) as error:
        if rank == 0:
            Path(spec["result"]).write_text(json.dumps({"error": str(error)}))
        return 0
    finally:
        if size > 1 and dist.is_initialized():
            dist.barrier()
    if rank == 0:
        payload: dict[str, Any] = {
            "status": result.status,
            "steps": result.steps,
            "total_steps": result.total_steps,
            "tokens_seen": result.tokens_seen,
            "trained_tokens": result.trained_tokens,
            "train_loss": result.train_loss,
            "valid_loss": result.valid_loss,
            "seconds": result.seconds,
            "device": result.device,
            "precision": result.precision,
            "train_examples": result.train_examples,
            "validation_examples": result.validation_examples,
            "adapter_dir": str(result.adapter_dir) if result.adapter_dir else None,
            "merged_dir": str(result.merged_dir) if result.merged_dir else None,
            "gpus": size,
        }
        prompts = spec.get("sample_prompts") or []
        if result.adapter_dir is not None and prompts:
            payload["samples"] = _samples(spec, result.adapter_dir, prompts, device, callbacks)
        Path(spec["result"]).write_text(json.dumps(payload))
    if size > 1:
        dist.destroy_process_group()
    return 0


def _samples(
    spec: dict[str, Any], adapter: Path, prompts: list[Any], device: Any, callbacks: Any
) -> dict[str, Any]:
    """Replies after training (with the adapter) and before it (the base model alone)."""
    try:
        return {
            side: generate_samples(
                base_model=spec["base_model"],
                adapter_dir=adapter_dir,
                prompts=prompts,
                max_new_tokens=int(spec.get("sample_max_new_tokens") or 128),
                cache_dir=spec.get("cache_dir"),
                device=device,
            )
            for side, adapter_dir in (("after", adapter), ("before", None))
        }
    except Exception as error:
        callbacks.on_event(
            "warning", f"Could not generate sample replies ({type(error).__name__}: {error})"
        )
        return {}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
