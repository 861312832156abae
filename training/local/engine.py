"""LoRA fine-tuning on a local GPU (or CPU): our own loop on torch + peft.

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
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from training.local import (
    TRAINER_STATE,
    LoraSettings,
    NullCallbacks,
    TrainingCallbacks,
    TrainResult,
    TrainSettings,
)
from training.local.data import (
    IGNORE_INDEX,
    DataStats,
    PackedRow,
    TokenizedExample,
    load_examples,
    normalize_message,
    pack_examples,
    single_rows,
)
from training.local.modelcard import library_versions, write_model_card, write_training_summary

# How much float32 logits one chunk of the loss may hold. Large enough for full-width GEMMs,
# small enough to stay a minor part of memory beside activations.
CE_CHUNK_BYTES_CUDA = 1 << 30
CE_CHUNK_BYTES_CPU = 1 << 26

__all__ = [
    "LinearCrossEntropy",
    "LoopResult",
    "LoraSettings",
    "NullCallbacks",
    "TrainResult",
    "TrainSettings",
    "TrainingCallbacks",
    "TrainingError",
    "apply_lora",
    "generate_samples",
    "load_base_model",
    "pick_device",
    "train_lora",
    "train_on_examples",
]


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message says what to change."""


# Loss ----------------------------------------------------------------------------------------


class LinearCrossEntropy(torch.autograd.Function):
    """Sum of token cross-entropies of ``hidden @ weight.T (+ bias)`` against ``targets``.

    Chunked over tokens so at most ``chunk`` rows of float32 logits exist at a time, and the
    gradient for ``hidden`` is computed in the forward pass (softmax minus one-hot, times the
    weight), so backward is a multiply. The head weight must be frozen, as it is under LoRA.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        chunk: int,
    ) -> torch.Tensor:
        if weight.requires_grad or (bias is not None and bias.requires_grad):
            raise ValueError("LinearCrossEntropy needs a frozen output head")
        need_grad = bool(ctx.needs_input_grad[0])
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if need_grad else None
        for start in range(0, hidden.shape[0], chunk):
            rows = hidden[start : start + chunk].to(weight.dtype)
            logits = rows @ weight.T
            if bias is not None:
                logits = logits + bias
            logits = logits.float()
            wanted = targets[start : start + chunk]
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, wanted[:, None]).squeeze(1)).sum()
            if grad_hidden is not None:
                # In place: the float32 logits become the softmax, then its gradient.
                probs = logits.sub_(lse[:, None]).exp_()
                probs[torch.arange(probs.shape[0], device=probs.device), wanted] -= 1.0
                grad_hidden[start : start + chunk] = (probs.to(weight.dtype) @ weight).to(
                    hidden.dtype
                )
        ctx.save_for_backward(grad_hidden if grad_hidden is not None else hidden.new_empty(0))
        return total

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (grad_hidden,) = ctx.saved_tensors
        return grad_hidden * grad_output.to(grad_hidden.dtype), None, None, None, None


def linear_cross_entropy_sum(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    *,
    chunk: int,
) -> torch.Tensor:
    return LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk)


# Batches -------------------------------------------------------------------------------------


@dataclass
class _Batch:
    input_ids: torch.Tensor
    position_ids: torch.Tensor
    # Flat positions (row * length + column) whose target is trained, and those targets.
    index: torch.Tensor
    targets: torch.Tensor
    tokens: int
    trained: int

    def to(self, device: torch.device) -> _Batch:
        move = {"device": device, "non_blocking": True}
        return _Batch(
            self.input_ids.to(**move),
            self.position_ids.to(**move),
            self.index.to(**move),
            self.targets.to(**move),
            self.tokens,
            self.trained,
        )


def _collate(rows: Sequence[PackedRow], *, pad_id: int, length: int | None, pin: bool) -> _Batch:
    """Rows to tensors. Padding forms its own segment (positions from 0), so with no
    attention mask it still cannot be attended to by, or attend to, real tokens."""
    width = length or _round_up(max(len(row) for row in rows), 8)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for number, row in enumerate(rows):
        size = len(row)
        input_ids[number, :size] = torch.tensor(row.input_ids)
        position_ids[number, :size] = torch.tensor(row.position_ids)
        position_ids[number, size:] = torch.arange(width - size)
        targets[number, :size] = torch.tensor(row.targets)
    flat = targets.view(-1)
    index = (flat != IGNORE_INDEX).nonzero().squeeze(1)
    tensors = [input_ids, position_ids, index, flat[index]]
    if pin:
        tensors = [tensor.pin_memory() for tensor in tensors]
    return _Batch(
        *tensors,
        tokens=sum(len(row) for row in rows),
        trained=int(index.numel()),
    )


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


# Model ---------------------------------------------------------------------------------------


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_bf16(setting: bool | str, device: torch.device) -> bool:
    supported = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if setting == "auto":
        return supported
    if setting is True and device.type == "cuda" and not supported:
        raise TrainingError("bf16 was asked for, but this GPU does not support it")
    return bool(setting)


def load_base_model(
    base_model: str | Path,
    *,
    cache_dir: str | Path | None,
    bf16: bool,
    attn_implementation: str,
    device: torch.device,
) -> PreTrainedModel:
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(base_model),
            local_files_only=True,
            cache_dir=str(cache_dir) if cache_dir else None,
            dtype=torch.bfloat16 if bf16 else torch.float32,
            attn_implementation=attn_implementation,
        )
    except OSError as exc:
        raise TrainingError(
            f"base model {base_model} is not on this machine (looked in the cache and as a "
            "directory); download it to the GPU worker's model cache first"
        ) from exc
    model.config.use_cache = False
    return model.to(device)


def apply_lora(
    model: PreTrainedModel, lora: LoraSettings, *, gradient_checkpointing: bool = False
) -> PeftModel:
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    # peft keeps adapter weights in float32 on a bf16 base: the optimizer state stays exact.
    return get_peft_model(model, config)


class _LossPath:
    """Sum of trained-token losses for a batch: through the chunked head when the model's
    logits are a plain linear head over the decoder output, else through the model's own
    forward (soft-capped or scaled logits, or a trainable head)."""

    def __init__(self, model: PeftModel, *, compile_decoder: bool) -> None:
        self.model = model
        causal_lm = model.get_base_model()
        head = causal_lm.get_output_embeddings()
        self.head: nn.Linear | None = None
        self.decoder: Any = None
        config = causal_lm.config
        plain_logits = (
            not getattr(config, "final_logit_softcapping", None)
            and getattr(config, "logit_scale", None) in (None, 1, 1.0)
            and getattr(config, "logits_scaling", None) in (None, 1, 1.0)
        )
        if plain_logits and type(head) is nn.Linear and not head.weight.requires_grad:
            self.head = head
            self.decoder = causal_lm.get_decoder()
        chunk_bytes = CE_CHUNK_BYTES_CUDA if self._device.type == "cuda" else CE_CHUNK_BYTES_CPU
        vocab = head.weight.shape[0] if head is not None else 1
        self.chunk = max(1, chunk_bytes // (4 * vocab))
        self.compile_decoder = compile_decoder
        self.fused = False

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def check_fused(self, batch: _Batch, autocast: AbstractContextManager[Any]) -> bool:
        """Use the chunked head only if it reproduces the model's own loss on real data."""
        if self.head is None:
            return False
        was_training = self.model.training
        # Eval mode: LoRA dropout would make the two passes differ.
        self.model.eval()
        self.fused = True
        with torch.no_grad(), autocast:
            try:
                ours = self.loss_sum(batch)
            except (TypeError, ValueError, AttributeError, RuntimeError):
                ours = None
            self.fused = False
            theirs = self.loss_sum(batch)
        self.model.train(was_training)
        self.fused = ours is not None and bool(
            torch.isclose(ours, theirs, rtol=5e-3, atol=1e-3 * max(batch.trained, 1))
        )
        if self.fused and self.compile_decoder:
            self.decoder = torch.compile(self.decoder)
        return self.fused

    def loss_sum(self, batch: _Batch) -> torch.Tensor:
        if self.fused:
            hidden = self.decoder(
                input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False
            ).last_hidden_state
            flat = hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch.index)
            return linear_cross_entropy_sum(
                flat, self.head.weight, self.head.bias, batch.targets, chunk=self.chunk
            )
        logits = self.model(
            input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False
        ).logits
        flat = logits.reshape(-1, logits.shape[-1]).index_select(0, batch.index).float()
        return nn.functional.cross_entropy(flat, batch.targets, reduction="sum")


# Loop ----------------------------------------------------------------------------------------


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


def _all_sum(tensor: torch.Tensor) -> torch.Tensor:
    if world()[1] > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def _windows(
    rows: list[PackedRow], *, batch_size: int, grad_accum: int, seed: int
) -> Iterator[list[list[PackedRow]]]:
    """Optimizer steps forever: each a list of micro-batches; rows reshuffled every epoch."""
    epoch = 0
    while True:
        order = list(rows)
        random.Random(seed + epoch).shuffle(order)
        micro = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for start in range(0, len(micro), grad_accum):
            yield micro[start : start + grad_accum]
        epoch += 1


def _schedule(total_steps: int, warmup_ratio: float) -> Any:
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

    def collate(batch_rows: Sequence[PackedRow]) -> _Batch:
        return _collate(
            batch_rows, pad_id=pad_token_id, length=fixed_length, pin=device.type == "cuda"
        ).to(device)

    loss_path = _LossPath(model, compile_decoder=train.compile and device.type == "cuda")
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
        optimizer, _schedule(total_steps, train.warmup_ratio)
    )

    history: dict[str, list[list[float]]] = {"train": [], "valid": []}
    checkpoints: list[Path] = []

    def stop_requested() -> bool:
        if size == 1:
            return report.should_stop()
        # Rank 0 asks (the database, a stop file); every rank learns its answer.
        flag = torch.tensor(float(report.should_stop()) if rank == 0 else 0.0, device=device)
        return bool(_all_sum(flag).item())

    def summed(value: int) -> int:
        # Across the group; alone, no tensor (and no device sync) is needed.
        if size == 1:
            return value
        return int(_all_sum(torch.tensor(float(value), device=device)).item())

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
        _all_sum(total)
        _all_sum(count)
        value = total.item() / max(count.item(), 1.0)
        history["valid"].append([step, value])
        report.on_eval(step, value)
        return value

    def checkpoint(step: int) -> None:
        if checkpoint_dir is None or rank != 0:
            return
        path = checkpoint_dir / f"step-{step:06d}"
        model.save_pretrained(path)
        if extra_checkpoint_files is not None:
            extra_checkpoint_files(path)
        torch.save(
            {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "tokens_seen": tokens_seen,
                "trained_tokens": trained_tokens,
                "history": history,
                "world_size": size,
                "seed": train.seed,
            },
            path / TRAINER_STATE,
        )
        checkpoints.append(path)
        report.on_checkpoint(step, path)

    train_loss: float | None = None
    tokens_seen = trained_tokens = 0
    status = "completed"
    step = 0
    windows = _windows(
        rows,
        batch_size=train.batch_size,
        grad_accum=train.grad_accum * size,
        seed=train.seed,
    )
    if resume_from is not None:
        state = torch.load(resume_from / TRAINER_STATE, map_location=device, weights_only=False)
        set_peft_model_state_dict(
            model, load_file(str(resume_from / "adapter_model.safetensors"), device=str(device))
        )
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
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
                _all_sum(step_loss)
            if train.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, train.max_grad_norm)
            learning_rate = scheduler.get_last_lr()[0]
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


# Entry points --------------------------------------------------------------------------------


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

    peft_model.save_pretrained(output)
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


def generate_samples(
    *,
    base_model: str | Path,
    adapter_dir: str | Path | None,
    prompts: list[list[dict[str, Any]]],
    max_new_tokens: int = 128,
    cache_dir: str | Path | None = None,
    device: str | None = None,
) -> list[str]:
    """Greedy completions of chat prompts, from the base model or base + adapter
    (``adapter_dir=None`` gives the "before" side of a comparison)."""
    target = pick_device(device)
    cache = str(cache_dir) if cache_dir else None
    tokenizer_source = str(base_model)
    if adapter_dir is not None and (Path(adapter_dir) / "tokenizer_config.json").exists():
        tokenizer_source = str(adapter_dir)
    tokenizer = AutoTokenizer.from_pretrained(
        tokenizer_source, local_files_only=True, cache_dir=cache
    )
    model: Any = load_base_model(
        base_model,
        cache_dir=cache_dir,
        bf16=resolve_bf16("auto", target),
        attn_implementation="sdpa",
        device=target,
    )
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()

    stop_ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    configured = model.generation_config.eos_token_id
    if isinstance(configured, int):
        stop_ids.add(configured)
    elif configured:
        stop_ids.update(configured)
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(stop_ids, default=0)
    )

    outputs: list[str] = []
    for prompt in prompts:
        encoded = tokenizer.apply_chat_template(
            [normalize_message(message) for message in prompt],
            add_generation_prompt=True,
            return_dict=True,
            return_tensors="pt",
        ).to(target)
        with torch.no_grad():
            generated = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=sorted(stop_ids) or None,
                pad_token_id=pad_id,
            )
        new_tokens = generated[0, encoded["input_ids"].shape[1] :]
        outputs.append(tokenizer.decode(new_tokens, skip_special_tokens=True))
    return outputs
