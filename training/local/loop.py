"""The training loop proper: optimizer steps over packed rows, validation, checkpoints,
cancel between steps, and a torchrun group's share of each step.

Importing this module imports torch: only the training processes do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from peft import PeftModel

from training.local import NullCallbacks, TrainingCallbacks, TrainingError, TrainSettings
from training.local.batches import Batch, collate_rows, step_windows
from training.local.checkpoints import load_checkpoint, save_checkpoint
from training.local.data import PackedRow, TokenizedExample, pack_examples, single_rows
from training.local.loss import LossPath


@dataclass
class LoopResult:
    status: str
    steps: int
    total_steps: int
    tokens_seen: int
    trained_tokens: int
    train_loss: float | None
    valid_loss: float | None
    seconds: float
    device: str
    precision: str
    fused_loss: bool
    rows: int
    checkpoints: list[Path] = field(default_factory=list)
    history: dict[str, list[list[float]]] = field(default_factory=dict)


def world() -> tuple[int, int]:
    """(rank, world size) of this process in a torchrun group, (0, 1) alone."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    if world()[1] > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def cosine_schedule(total_steps: int, warmup_ratio: float) -> Any:
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def train_on_examples(
    *,
    model: PeftModel,
    train_examples: Sequence[TokenizedExample],
    validation_examples: Sequence[TokenizedExample] = (),
    train: TrainSettings,
    callbacks: TrainingCallbacks,
    pad_token_id: int,
    checkpoint_dir: Path | None = None,
    extra_checkpoint_files: Callable[[Path], object] | None = None,
    resume_from: Path | None = None,
) -> LoopResult:
    """The training loop proper, on tokenized examples and a LoRA-wrapped model.

    ``extra_checkpoint_files`` is called with each checkpoint directory (the engine saves
    the tokenizer there) so a checkpoint is usable on its own. Each checkpoint also holds
    the optimizer, the schedule and the data position (``trainer_state.pt``):
    ``resume_from`` one continues at the step after it, on the same batches a run that
    never stopped would have seen.

    In a torchrun group each process takes its share of every step's micro-batches and
    the gradients are summed across processes before the optimizer steps, so N processes
    train like one with N times the batch; only rank 0 reports and writes checkpoints.
    """
    started = time.monotonic()
    rank, size = world()
    if rank != 0:
        # One voice per group: rank 0 reports; its stop decision reaches every rank below.
        report: TrainingCallbacks = NullCallbacks()
    else:
        report = callbacks
    device = next(model.parameters()).device
    use_bf16 = next(p for p in model.parameters() if not p.requires_grad).dtype == torch.bfloat16
    precision = "bf16" if use_bf16 else "fp32"
    autocast: AbstractContextManager[Any] = (
        torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()
    )
    row_length = train.max_seq_length
    if train.packing:
        rows = pack_examples(train_examples, row_length=row_length)
        valid_rows = pack_examples(validation_examples, row_length=row_length)
    else:
        rows, valid_rows = single_rows(train_examples), single_rows(validation_examples)
    if not rows:
        raise TrainingError("nothing to train: no example has assistant tokens to learn")
    # A compiled decoder wants one shape; otherwise rows are only padded to the longest.
    fixed_length = row_length if train.compile else None

    micro_per_epoch = math.ceil(len(rows) / train.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / (train.grad_accum * size))
    total_steps = train.max_steps or steps_per_epoch * train.epochs

    def collate(batch_rows: Sequence[PackedRow]) -> Batch:
        return collate_rows(
            batch_rows, pad_id=pad_token_id, length=fixed_length, pin=device.type == "cuda"
        ).to(device)

    loss_path = LossPath(model, compile_decoder=train.compile and device.type == "cuda")
    model.train()
    fused = loss_path.check_fused(collate(rows[:1]), autocast)
    report.on_event(
        "info",
        f"{len(train_examples)} examples in {len(rows)} rows of up to {row_length} tokens; "
        f"{total_steps} steps on {device.type} ({precision})"
        + (f" x {size} processes" if size > 1 else "")
        + f"; loss through {'the chunked head' if fused else 'the model head'}",
    )

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=train.learning_rate,
        weight_decay=train.weight_decay,
        fused=device.type == "cuda",
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_schedule(total_steps, train.warmup_ratio)
    )

    history: dict[str, list[list[float]]] = {"train": [], "valid": []}
    checkpoints: list[Path] = []

    def stop_requested() -> bool:
        if size == 1:
            return report.should_stop()
        # Rank 0 asks (the database, a stop file); every rank learns its answer.
        flag = torch.tensor(float(report.should_stop()) if rank == 0 else 0.0, device=device)
        return bool(all_sum(flag).item())

    def summed(value: int) -> int:
        # Across the group; alone, no tensor (and no device sync) is needed.
        if size == 1:
            return value
        return int(all_sum(torch.tensor(float(value), device=device)).item())

    def evaluate(step: int) -> float | None:
        if not valid_rows:
            return None
        model.eval()
        total = torch.zeros((), dtype=torch.float32, device=device)
        count = torch.zeros((), dtype=torch.float32, device=device)
        shard = valid_rows[rank::size]
        with torch.no_grad(), autocast:
            for start in range(0, len(shard), train.batch_size):
                batch = collate(shard[start : start + train.batch_size])
                total += loss_path.loss_sum(batch).float()
                count += batch.trained
        model.train()
        all_sum(total)
        all_sum(count)
        value = total.item() / max(count.item(), 1.0)
        history["valid"].append([step, value])
        report.on_eval(step, value)
        return value

    def checkpoint(step: int) -> None:
        if checkpoint_dir is None or rank != 0:
            return
        path = checkpoint_dir / f"step-{step:06d}"
        save_checkpoint(
            path,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            extra_files=extra_checkpoint_files,
            progress={
                "step": step,
                "tokens_seen": tokens_seen,
                "trained_tokens": trained_tokens,
                "history": history,
                "world_size": size,
                "seed": train.seed,
            },
        )
        checkpoints.append(path)
        report.on_checkpoint(step, path)

    train_loss: float | None = None
    tokens_seen = trained_tokens = 0
    status = "completed"
    step = 0
    windows = step_windows(
        rows,
        batch_size=train.batch_size,
        grad_accum=train.grad_accum * size,
        seed=train.seed,
    )
    if resume_from is not None:
        state = load_checkpoint(
            resume_from, model=model, optimizer=optimizer, scheduler=scheduler, device=device
        )
        step = int(state["step"])
        tokens_seen = int(state["tokens_seen"])
        trained_tokens = int(state["trained_tokens"])
        history = state["history"]
        # The data position: the same shuffles, so skipping the steps done lands on the
        # batch the stopped run would have trained next.
        for _ in range(step):
            next(windows)
        if state.get("world_size", 1) != size:
            report.on_event(
                "warning",
                f"Resumed on {size} processes after {state.get('world_size')}: later batches "
                "differ from an uninterrupted run",
            )
        report.on_event("info", f"Resumed from the checkpoint at step {step} of {total_steps}")
        valid_loss = history["valid"][-1][1] if history.get("valid") else None
    else:
        valid_loss = evaluate(0)
    try:
        while step < total_steps:
            if stop_requested():
                status = "cancelled"
                break
            window = next(windows)
            batches = [collate(micro) for micro in window[rank::size]]
            # One token-level mean over the whole step (all processes), however rows split
            # into micro-batches.
            denominator = summed(sum(batch.trained for batch in batches))
            step_loss = torch.zeros((), dtype=torch.float32, device=device)
            for batch in batches:
                with autocast:
                    loss = loss_path.loss_sum(batch) / denominator
                loss.backward()
                step_loss += loss.detach().float()
            if size > 1:
                for param in params:
                    if param.grad is None:
                        param.grad = torch.zeros_like(param)
                    dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
                all_sum(step_loss)
            if train.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, train.max_grad_norm)
            learning_rate = float(scheduler.get_last_lr()[0])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens_seen += summed(sum(batch.tokens for batch in batches))
            trained_tokens += denominator
            train_loss = step_loss.item()
            if not math.isfinite(train_loss):
                raise TrainingError(
                    f"the loss became {train_loss} at step {step}; lower the learning rate"
                )
            history["train"].append([step, train_loss])
            report.on_step(step, total_steps, train_loss, learning_rate, tokens_seen)
            if step < total_steps:
                if train.eval_every and step % train.eval_every == 0:
                    valid_loss = evaluate(step)
                if train.save_every and step % train.save_every == 0:
                    checkpoint(step)
    except torch.OutOfMemoryError as exc:
        raise TrainingError(
            "out of GPU memory; lower batch_size or max_seq_length, or turn on "
            "gradient_checkpointing"
        ) from exc
    if status == "completed":
        valid_loss = evaluate(step) if valid_rows else None
    return LoopResult(
        status=status,
        steps=step,
        total_steps=total_steps,
        tokens_seen=tokens_seen,
        trained_tokens=trained_tokens,
        train_loss=train_loss,
        valid_loss=valid_loss,
        seconds=time.monotonic() - started,
        device=str(device),
        precision=precision,
        fused_loss=fused,
        rows=len(rows),
        checkpoints=checkpoints,
        history=history,
    )
