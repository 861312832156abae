"""Local LoRA training throughput: our loop ÷ a plain transformers + peft loop, same process.

Both train LoRA r=16 on every linear projection of the same randomly initialised model
(Qwen2-0.5B shapes by default) on the same synthetic chat-like examples (random tokens, the
first 40 % of each example is "prompt" and not trained). The plain loop does what a naive
script does: batches of examples padded to the longest, an attention mask, and the model's
own loss over full-vocabulary logits. Ours packs rows and uses the chunked head loss.

Throughput counts real (non-padding) tokens per second after a few warm-up steps. MFU is
4 * base parameters * tokens/s ÷ peak bf16 FLOP/s (4, not 6: LoRA needs no weight gradients
for the frozen base).

    python -m tests.benchmarks.bench_local_training            # a GPU, Qwen2-0.5B shapes
    python -m tests.benchmarks.bench_local_training --smoke    # CPU, tiny model, seconds
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from transformers import Qwen2Config, Qwen2ForCausalLM

from training.local import LoraSettings, NullCallbacks, TrainSettings
from training.local.data import IGNORE_INDEX, TokenizedExample
from training.local.loop import train_on_examples
from training.local.model import apply_lora

QWEN2_05B = {
    "hidden_size": 896,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "intermediate_size": 4864,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "max_position_embeddings": 32768,
}
TINY = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 1000,
    "tie_word_embeddings": True,
    "max_position_embeddings": 512,
}
PROMPT_FRACTION = 0.4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model on CPU")
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--min-len", type=int, default=None)
    parser.add_argument("--warmup-steps", type=int, default=None)
    parser.add_argument("--peak-flops", type=float, default=989e12, help="default: H100 SXM")
    parser.add_argument("--compile", action="store_true", help="torch.compile our decoder")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = (
        {"examples": 24, "batch_size": 4, "seq_len": 128, "min_len": 16, "warmup_steps": 1}
        if args.smoke
        else {"examples": 384, "batch_size": 8, "seq_len": 2048, "min_len": 128, "warmup_steps": 3}
    )
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def synthetic_examples(args: argparse.Namespace, vocab: int) -> list[TokenizedExample]:
    rng = random.Random(args.seed)
    examples = []
    for _ in range(args.examples):
        size = rng.randint(args.min_len, args.seq_len)
        ids = [rng.randrange(vocab) for _ in range(size)]
        prompt = int(size * PROMPT_FRACTION)
        examples.append(TokenizedExample(ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return examples


def build_model(shapes: dict[str, Any], device: torch.device, dtype: torch.dtype) -> Any:
    config = Qwen2Config(**shapes, attn_implementation="sdpa", use_cache=False)
    # Same seed, same weights: both loops start from the identical model.
    torch.manual_seed(1234)
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    return model.to(dtype)


def base_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


class StepClock(NullCallbacks):
    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def on_step(
        self, step: int, total_steps: int, train_loss: float, learning_rate: float, tokens: int
    ) -> None:
        self.marks.append((time.perf_counter(), tokens))


def throughput(marks: list[tuple[float, int]], warmup: int) -> float:
    if len(marks) <= warmup + 1:
        raise SystemExit(f"only {len(marks)} steps: use more --examples or fewer --warmup-steps")
    (t0, n0), (t1, n1) = marks[warmup], marks[-1]
    return (n1 - n0) / (t1 - t0)


def run_ours(
    args: argparse.Namespace, shapes: dict[str, Any], device: torch.device, dtype: torch.dtype
) -> tuple[float, int]:
    model = build_model(shapes, device, dtype)
    params = base_parameters(model)
    wrapped = apply_lora(model, LoraSettings(), gradient_checkpointing=args.gradient_checkpointing)
    clock = StepClock()
    train_on_examples(
        model=wrapped,
        train_examples=synthetic_examples(args, shapes["vocab_size"]),
        train=TrainSettings(
            epochs=1,
            batch_size=args.batch_size,
            max_seq_length=args.seq_len,
            eval_every=0,
            save_every=0,
            compile=args.compile,
            seed=args.seed,
        ),
        callbacks=clock,
        pad_token_id=0,
    )
    return throughput(clock.marks, args.warmup_steps), params


def run_plain(
    args: argparse.Namespace, shapes: dict[str, Any], device: torch.device, dtype: torch.dtype
) -> float:
    """What a straightforward transformers + peft script does."""
    model = build_model(shapes, device, dtype)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraSettings()
    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    wrapped = get_peft_model(model, config)
    wrapped.train()
    trainable = [p for p in wrapped.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=2e-4)
    examples = synthetic_examples(args, shapes["vocab_size"])
    use_bf16 = dtype == torch.bfloat16
    clock = StepClock()
    tokens = 0
    for start in range(0, len(examples), args.batch_size):
        batch = examples[start : start + args.batch_size]
        width = max(len(example) for example in batch)
        input_ids = torch.zeros((len(batch), width), dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        for row, example in enumerate(batch):
            input_ids[row, : len(example)] = torch.tensor(example.input_ids)
            attention[row, : len(example)] = 1
            labels[row, : len(example)] = torch.tensor(example.labels)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            output = wrapped(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                labels=labels.to(device),
            )
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        output.loss.item()
        tokens += sum(len(example) for example in batch)
        clock.on_step(start, 0, 0.0, 0.0, tokens)
    return throughput(clock.marks, args.warmup_steps)


def release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.smoke:
        device, dtype, shapes = torch.device("cpu"), torch.float32, TINY
        # Tiny matrices gain nothing from threads, and spinning threads on a busy machine
        # make both loops' timings noise.
        torch.set_num_threads(1)
    else:
        if not torch.cuda.is_available():
            raise SystemExit("needs a CUDA GPU; use --smoke for the CPU check")
        device, dtype, shapes = torch.device("cuda"), torch.bfloat16, QWEN2_05B
        if not torch.cuda.is_bf16_supported():
            raise SystemExit("needs a GPU with bf16")

    plain = run_plain(args, shapes, device, dtype)
    release()
    ours, params = run_ours(args, shapes, device, dtype)
    release()

    def mfu(tokens_per_second: float) -> float:
        return 4 * params * tokens_per_second / args.peak_flops

    name = "tiny (smoke)" if args.smoke else "Qwen2-0.5B shapes"
    print(f"model: {name}, {params / 1e6:.1f}M base parameters, device: {device}, {dtype}")
    print(
        f"data: {args.examples} examples of {args.min_len}-{args.seq_len} tokens, "
        f"batch {args.batch_size}, LoRA r=16 all-linear, compile={args.compile}"
    )
    print(f"plain transformers + peft: {plain:12.0f} tokens/s   MFU {mfu(plain):6.1%}")
    print(f"ours (packed, chunked CE): {ours:12.0f} tokens/s   MFU {mfu(ours):6.1%}")
    print(f"ratio ours / plain: {ours / plain:.2f}")


if __name__ == "__main__":
    main()
