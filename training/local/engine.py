"""LoRA fine-tuning on a local GPU (or CPU): our own loop on torch + peft. This module is the
entry point (``train_lora``: check the files, load, train, save the adapter and its card);
the concerns live beside it: ``batches`` (packed rows to tensors), ``loss`` (the chunked
head), ``loop`` (the steps), ``checkpoints`` (save and resume), ``model`` (base model and
LoRA) and ``samples`` (answers before and after).

Why not the Hugging Face Trainer: the RQ job needs step-level control (cancel at the next
step, events, checkpoints it can list), and three things make this loop faster than a plain
one on chat data:

- packed rows without padding: whole examples back to back, positions restarting at 0 for
  each, so transformers builds a block-diagonal causal mask for SDPA and no token attends
  across an example boundary (``attention_mask`` is left out on purpose: with it transformers
  would not detect the packing);
- the loss only looks at trained (assistant) tokens, and never holds full-vocabulary float32
  logits for all of them at once: ``LinearCrossEntropy`` walks them in chunks and computes
  the gradient in the same pass, so the output projection runs once, not twice;
- bf16 autocast where the GPU supports it, optional ``torch.compile`` and gradient
  checkpointing.

Importing this module imports torch: only the GPU worker does, inside the training job.
"""

from __future__ import annotations

import gc
import hashlib
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from training.local import (
    LoraSettings,
    TrainingCallbacks,
    TrainingError,
    TrainResult,
    TrainSettings,
)
from training.local.data import DataStats, TokenizedExample, load_examples
from training.local.loop import train_on_examples, world
from training.local.model import apply_lora, load_base_model, pick_device, resolve_bf16
from training.local.modelcard import library_versions, write_model_card, write_training_summary


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _check_digests(dataset_info: dict[str, Any] | None, paths: Sequence[Path]) -> None:
    """Refuse files whose sha256 differs from the snapshot's record: the card would
    otherwise name data the adapter was not trained on."""
    expected = (dataset_info or {}).get("sha256") or {}
    for path in paths:
        digest = expected.get(path.name)
        if digest is None:
            continue
        actual = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                actual.update(block)
        if actual.hexdigest() != digest:
            raise TrainingError(f"{path.name} does not match its recorded sha256; rebuild it")


def _report_data(callbacks: TrainingCallbacks, name: str, stats: DataStats) -> None:
    callbacks.on_event(
        "info",
        f"{name}: {stats.conversations} conversations, {stats.examples} examples, "
        f"{stats.tokens} tokens ({stats.trained_tokens} trained), "
        f"{stats.truncated} truncated, {stats.skipped} skipped",
    )
    for problem in stats.problems[:20]:
        callbacks.on_event("warning", problem)
    if len(stats.problems) > 20:
        callbacks.on_event("warning", f"{len(stats.problems) - 20} more lines skipped")


def train_lora(
    *,
    base_model: str | Path,
    train_path: str | Path,
    validation_path: str | Path | None,
    output_dir: str | Path,
    lora: LoraSettings,
    train: TrainSettings,
    callbacks: TrainingCallbacks,
    cache_dir: str | Path | None = None,
    dataset_info: dict[str, Any] | None = None,
    merge: bool = False,
    device: str | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train a LoRA adapter on a snapshot's files and save it with its model card.

    ``resume_from`` is a checkpoint folder of an earlier run of the same job: training
    continues after its step. In a torchrun group only rank 0 writes the adapter.

    ``dataset_info`` is recorded verbatim in the card and summary; the card shows
    ``dataset``, ``version`` and a ``sha256`` mapping of file name to digest when present,
    and files named in that mapping are checked against it before anything loads.
    A cancelled run (``callbacks.should_stop()``) returns after the current step with the
    checkpoints written so far and no final adapter.
    """
    started = time.monotonic()
    files = [Path(train_path)]
    if validation_path is not None and Path(validation_path).exists():
        files.append(Path(validation_path))
    _check_digests(dataset_info, files)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    _seed_everything(train.seed)
    target = pick_device(device)
    use_bf16 = resolve_bf16(train.bf16, target)

    callbacks.on_event("info", f"Loading {base_model} on {target.type}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(base_model), local_files_only=True, cache_dir=str(cache_dir) if cache_dir else None
        )
    except OSError as exc:
        raise TrainingError(f"no tokenizer for {base_model} on this machine") from exc
    train_examples, train_stats = load_examples(
        train_path, tokenizer, max_seq_length=train.max_seq_length
    )
    _report_data(callbacks, "train", train_stats)
    validation_examples: list[TokenizedExample] = []
    valid_stats = DataStats()
    if validation_path is not None and Path(validation_path).exists():
        validation_examples, valid_stats = load_examples(
            validation_path, tokenizer, max_seq_length=train.max_seq_length
        )
        _report_data(callbacks, "validation", valid_stats)
    if not train_examples:
        raise TrainingError("the training file has no example with assistant tokens to learn")

    try:
        return _train_and_save(
            base_model=str(base_model),
            tokenizer=tokenizer,
            train_examples=train_examples,
            validation_examples=validation_examples,
            data_stats={"train": train_stats.as_dict(), "validation": valid_stats.as_dict()},
            output=output,
            lora=lora,
            train=train,
            callbacks=callbacks,
            cache_dir=cache_dir,
            dataset_info=dataset_info or {},
            merge=merge,
            target=target,
            use_bf16=use_bf16,
            started=started,
            resume_from=Path(resume_from) if resume_from else None,
        )
    finally:
        # The model went with _train_and_save's frame; give its memory back to the device
        # for whatever this worker runs next (sample generation, the next job).
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _train_and_save(
    *,
    base_model: str,
    tokenizer: Any,
    train_examples: list[TokenizedExample],
    validation_examples: list[TokenizedExample],
    data_stats: dict[str, Any],
    output: Path,
    lora: LoraSettings,
    train: TrainSettings,
    callbacks: TrainingCallbacks,
    cache_dir: str | Path | None,
    dataset_info: dict[str, Any],
    merge: bool,
    target: torch.device,
    use_bf16: bool,
    started: float,
    resume_from: Path | None = None,
) -> TrainResult:
    model = load_base_model(
        base_model,
        cache_dir=cache_dir,
        bf16=use_bf16,
        attn_implementation=train.attn_implementation,
        device=target,
    )
    peft_model = apply_lora(model, lora, gradient_checkpointing=train.gradient_checkpointing)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0

    loop = train_on_examples(
        model=peft_model,
        train_examples=train_examples,
        validation_examples=validation_examples,
        train=train,
        callbacks=callbacks,
        pad_token_id=pad_id,
        checkpoint_dir=output / "checkpoints",
        extra_checkpoint_files=tokenizer.save_pretrained,
        resume_from=resume_from,
    )
    result = TrainResult(
        status="cancelled" if loop.status == "cancelled" else "completed",
        steps=loop.steps,
        total_steps=loop.total_steps,
        tokens_seen=loop.tokens_seen,
        trained_tokens=loop.trained_tokens,
        train_loss=loop.train_loss,
        valid_loss=loop.valid_loss,
        seconds=0.0,
        device=loop.device,
        precision=loop.precision,
        train_examples=len(train_examples),
        validation_examples=len(validation_examples),
        checkpoints=loop.checkpoints,
    )
    if loop.status == "cancelled":
        callbacks.on_event("warning", f"Cancelled after step {loop.steps} of {loop.total_steps}")
        result.seconds = time.monotonic() - started
        return result
    if world()[0] != 0:
        # The other ranks trained the same weights; rank 0 alone writes them.
        result.seconds = time.monotonic() - started
        return result

    peft_model.save_pretrained(str(output))
    tokenizer.save_pretrained(output)
    result.adapter_dir = output
    if merge:
        merged_dir = output / "merged"
        merged = peft_model.merge_and_unload()
        merged.save_pretrained(merged_dir)
        tokenizer.save_pretrained(merged_dir)
        result.merged_dir = merged_dir
    result.seconds = time.monotonic() - started

    metrics = {
        "train_loss": loop.train_loss,
        "valid_loss": loop.valid_loss,
        "steps": loop.steps,
        "tokens_seen": loop.tokens_seen,
        "trained_tokens": loop.trained_tokens,
        "train_seconds": round(loop.seconds, 3),
        "tokens_per_second": round(loop.tokens_seen / loop.seconds, 1) if loop.seconds else None,
    }
    environment = {
        **library_versions(),
        "device": loop.device,
        "precision": loop.precision,
        "fused_loss": loop.fused_loss,
    }
    result.summary_path = write_training_summary(
        output_dir=output,
        summary={
            "status": result.status,
            "base_model": base_model,
            "dataset": dataset_info,
            "lora": lora.as_dict(),
            "train": train.as_dict(),
            "metrics": metrics,
            "data": data_stats,
            "environment": environment,
            "history": loop.history,
            "merged": result.merged_dir is not None,
        },
    )
    # After save_pretrained: peft writes a generic README there that this one replaces.
    write_model_card(
        output_dir=output,
        base_model=base_model,
        dataset_info=dataset_info,
        lora=lora.as_dict(),
        train=train.as_dict(),
        metrics=metrics,
        environment=environment,
    )
    callbacks.on_event("info", f"Saved the adapter to {output}")
    return result
