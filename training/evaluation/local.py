"""Batched generation with a local base model or LoRA adapter (transformers + peft).

Runs on the ``training-gpu`` workers only (the web and eval workers never import torch): the
run's job is queued there when its model is local. Prompts are left-padded and generated in
batches; temperature 0 is greedy decoding.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from django.core.files.storage import default_storage

from training.providers import get_config


@dataclass
class LocalReply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


def local_options() -> dict[str, Any]:
    """cache_dir and device of the configured "local" provider, when there is one."""
    try:
        config = get_config("local")
    except Exception:
        return {}
    return {"cache_dir": config.options.get("cache_dir"), "device": config.options.get("device")}


def download_tree(prefix: str, folder: Path) -> Path:
    """Copy a stored adapter (every file under ``prefix``) into ``folder``."""

    def walk(path: str, target: Path) -> None:
        directories, files = default_storage.listdir(path)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            with default_storage.open(f"{path}/{name}", "rb") as source:
                (target / name).write_bytes(source.read())
        for name in directories:
            walk(f"{path}/{name}", target / name)

    walk(prefix.rstrip("/"), folder)
    return folder


def generate(
    *,
    base_model: str,
    adapter_prefix: str | None,
    prompts: list[list[dict[str, Any]]],
    max_new_tokens: int,
    temperature: float,
    seed: int | None,
    batch_size: int = 8,
) -> Iterator[list[LocalReply]]:
    """Replies to ``prompts`` in order, one list per batch as each batch finishes."""
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer

    from training.local.data import normalize_message
    from training.local.model import load_base_model, pick_device, resolve_bf16

    options = local_options()
    device = pick_device(options.get("device"))
    with tempfile.TemporaryDirectory(prefix="curator-eval-adapter-") as folder:
        adapter_dir = download_tree(adapter_prefix, Path(folder)) if adapter_prefix else None
        source = base_model
        if adapter_dir is not None and (adapter_dir / "tokenizer_config.json").exists():
            source = str(adapter_dir)
        tokenizer = AutoTokenizer.from_pretrained(
            source, local_files_only=True, cache_dir=options.get("cache_dir")
        )
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model: Any = load_base_model(
            base_model,
            cache_dir=options.get("cache_dir"),
            bf16=resolve_bf16("auto", device),
            attn_implementation="sdpa",
            device=device,
        )
        if adapter_dir is not None:
            model = PeftModel.from_pretrained(model, str(adapter_dir))
        model.eval()
        model.config.use_cache = True
        if seed is not None:
            torch.manual_seed(seed)
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start : start + batch_size]
            texts = [
                tokenizer.apply_chat_template(
                    [normalize_message(m) for m in prompt],
                    add_generation_prompt=True,
                    tokenize=False,
                )
                for prompt in batch
            ]
            encoded = tokenizer(texts, return_tensors="pt", padding=True).to(device)
            started = time.perf_counter()
            with torch.no_grad():
                generated = model.generate(
                    **encoded,
                    max_new_tokens=max_new_tokens,
                    do_sample=temperature > 0,
                    temperature=temperature if temperature > 0 else None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            elapsed = (time.perf_counter() - started) * 1000
            width = encoded["input_ids"].shape[1]
            replies = []
            for row in range(len(batch)):
                new = generated[row, width:]
                stop = (new == tokenizer.pad_token_id) | (new == tokenizer.eos_token_id)
                length = int(stop.nonzero()[0, 0]) if bool(stop.any()) else int(new.shape[0])
                replies.append(
                    LocalReply(
                        # One sequence decodes to one string (a batch would give a list).
                        text=cast(str, tokenizer.decode(new[:length], skip_special_tokens=True)),
                        prompt_tokens=int(encoded["attention_mask"][row].sum()),
                        completion_tokens=length,
                        # A batch answers together: each reply waited the batch's time.
                        latency_ms=elapsed,
                    )
                )
            yield replies
