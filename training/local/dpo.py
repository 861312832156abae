"""Local DPO on a preference version: LoRA on the base model, the reference model being the
same base with the adapter disabled (no second copy in memory).

Each line of the version's preference JSONL (``input.messages``, ``preferred_output``,
``non_preferred_output``) is rendered with the tokenizer's chat template; only the tokens
of the reply (what follows the prompt's rendering) count in its log-probability. The loss is
DPO's: ``-log sigmoid(beta * ((log p(c) - log p_ref(c)) - (log p(r) - log p_ref(r))))``.
Single process; multi-GPU DPO is not offered here.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from training.local import (
    LoraSettings,
    NullCallbacks,
    TrainingCallbacks,
    TrainingError,
    TrainResult,
    TrainSettings,
)
from training.local.data import DataError, normalize_message
from training.local.model import apply_lora, load_base_model, pick_device


@dataclass
class PreferenceExample:
    chosen_ids: list[int]
    chosen_start: int  # first token of the chosen reply
    rejected_ids: list[int]
    rejected_start: int


@dataclass
class DpoResult:
    steps: int
    losses: list[float] = field(default_factory=list)
    margins: list[float] = field(default_factory=list)  # mean reward margin per step
    adapter_dir: Path | None = None
    total_steps: int = 0
    tokens: int = 0
    examples: int = 0


def _render(tokenizer: Any, messages: list[dict[str, Any]], *, generation: bool) -> str:
    return tokenizer.apply_chat_template(
        [normalize_message(m) for m in messages],
        tokenize=False,
        add_generation_prompt=generation,
    )


def load_preference_examples(
    path: str | Path, tokenizer: Any, *, max_seq_length: int
) -> list[PreferenceExample]:
    """Tokenized pairs of a preference JSONL file; DataError names a bad line."""
    examples = []
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                prompt = record["input"]["messages"]
                chosen, rejected = record["preferred_output"], record["non_preferred_output"]
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(
                    path, number, f"not a preference line (input.messages, ...): {exc}"
                ) from exc
            prefix = tokenizer(_render(tokenizer, prompt, generation=True))["input_ids"]
            sides = []
            for reply in (chosen, rejected):
                ids = tokenizer(_render(tokenizer, [*prompt, *reply], generation=False))[
                    "input_ids"
                ]
                start = len(prefix) if ids[: len(prefix)] == prefix else len(prefix) - 1
                if start >= len(ids):
                    raise DataError(path, number, "the reply renders to no tokens")
                sides.append((ids[:max_seq_length], min(start, max_seq_length - 1)))
            examples.append(PreferenceExample(sides[0][0], sides[0][1], sides[1][0], sides[1][1]))
    return examples


def _reply_logps(model: Any, rows: Sequence[tuple[list[int], int]], pad_id: int) -> torch.Tensor:
    """Sum of log-probabilities of each row's reply tokens (a batch, right-padded)."""
    device = next(model.parameters()).device
    length = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), length), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(rows), length), dtype=torch.long, device=device)
    scored = torch.zeros((len(rows), length), dtype=torch.bool, device=device)
    for row, (ids, start) in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids, device=device)
        mask[row, : len(ids)] = 1
        scored[row, start : len(ids)] = True
    logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float()
    targets = input_ids[:, 1:]
    token_logps = torch.gather(F.log_softmax(logits, dim=-1), 2, targets.unsqueeze(-1)).squeeze(-1)
    return (token_logps * scored[:, 1:]).sum(-1)


def dpo_loss(
    policy: tuple[torch.Tensor, torch.Tensor],
    reference: tuple[torch.Tensor, torch.Tensor],
    *,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss, mean reward margin) from summed reply log-probs (chosen, rejected)."""
    margin = (policy[0] - reference[0]) - (policy[1] - reference[1])
    return -F.logsigmoid(beta * margin).mean(), (beta * margin).detach().mean()


def train_dpo_lora(
    *,
    base_model: str | Path,
    train_path: str | Path,
    output_dir: str | Path,
    lora: LoraSettings,
    beta: float = 0.1,
    epochs: int = 1,
    batch_size: int = 4,
    learning_rate: float = 5e-4,
    max_seq_length: int = 1024,
    seed: int = 0,
    device: str | None = None,
    cache_dir: str | Path | None = None,
    callbacks: TrainingCallbacks | None = None,
) -> DpoResult:
    """Train a LoRA adapter with DPO and save it (peft's format, with the tokenizer) in
    ``output_dir``. ``callbacks`` hear each step (the DPO loss) and may stop the run."""
    callbacks = callbacks or NullCallbacks()
    if beta <= 0:
        raise TrainingError("DPO beta must be positive")
    random.seed(seed)
    torch.manual_seed(seed)
    target = pick_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(base_model), local_files_only=True, cache_dir=str(cache_dir) if cache_dir else None
        )
    except OSError as exc:
        raise TrainingError(f"no tokenizer for {base_model} on this machine") from exc
    examples = load_preference_examples(train_path, tokenizer, max_seq_length=max_seq_length)
    if not examples:
        raise TrainingError("the training file has no preference pair")
    base = load_base_model(
        base_model,
        cache_dir=cache_dir,
        bf16=False,
        attn_implementation="eager",
        device=target,
    )
    model = apply_lora(base, lora)
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=learning_rate
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    result = DpoResult(steps=0)
    order = list(range(len(examples)))
    total = epochs * ((len(examples) + batch_size - 1) // batch_size)
    for _ in range(epochs):
        if callbacks.should_stop():
            break
        random.shuffle(order)
        for first in range(0, len(order), batch_size):
            batch = [examples[i] for i in order[first : first + batch_size]]
            rows = [(e.chosen_ids, e.chosen_start) for e in batch] + [
                (e.rejected_ids, e.rejected_start) for e in batch
            ]
            with torch.no_grad(), model.disable_adapter():
                reference = _reply_logps(model, rows, pad_id)
            policy = _reply_logps(model, rows, pad_id)
            half = len(batch)
            loss, margin = dpo_loss(
                (policy[:half], policy[half:]), (reference[:half], reference[half:]), beta=beta
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            result.steps += 1
            result.losses.append(loss.item())
            result.margins.append(float(margin))
            tokens = sum(len(ids) for ids, _ in rows)
            callbacks.on_step(result.steps, total, loss.item(), learning_rate, tokens)
            result.tokens += tokens
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output))
    tokenizer.save_pretrained(output)
    result.adapter_dir = output
    result.total_steps = total
    result.examples = len(examples)
    return result


def train_dpo_job(
    *,
    base_model: str | Path,
    train_path: str | Path,
    output_dir: str | Path,
    lora: LoraSettings,
    train: TrainSettings,
    beta: float,
    callbacks: TrainingCallbacks,
    cache_dir: str | Path | None = None,
    device: str | None = None,
) -> TrainResult:
    """The local provider's entry for a DPO job: the same result as a supervised run."""
    started = time.monotonic()
    callbacks.on_event("info", f"DPO with beta {beta}: reference = {base_model} (adapter off)")
    result = train_dpo_lora(
        base_model=base_model,
        train_path=train_path,
        output_dir=Path(output_dir) / "adapter",
        lora=lora,
        beta=beta,
        epochs=train.epochs,
        batch_size=train.batch_size,
        learning_rate=train.learning_rate,
        max_seq_length=train.max_seq_length,
        seed=train.seed,
        device=device,
        cache_dir=cache_dir,
        callbacks=callbacks,
    )
    return TrainResult(
        status="completed",
        steps=result.steps,
        total_steps=result.total_steps,
        tokens_seen=result.tokens,
        trained_tokens=result.tokens,
        train_loss=result.losses[-1] if result.losses else None,
        valid_loss=None,
        seconds=time.monotonic() - started,
        device=str(pick_device(device)),
        precision="fp32",
        train_examples=result.examples,
        validation_examples=0,
        adapter_dir=result.adapter_dir,
    )
