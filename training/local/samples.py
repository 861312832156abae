"""Greedy answers to chat prompts, before and after training (the job page's samples).

Importing this module imports torch: only the training processes do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import torch
from peft import PeftModel
from transformers import AutoTokenizer, BatchEncoding

from training.local.data import normalize_message
from training.local.model import load_base_model, pick_device, resolve_bf16


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
        # return_dict=True: a BatchEncoding (the other return types are for other arguments).
        encoded = cast(
            BatchEncoding,
            tokenizer.apply_chat_template(
                [normalize_message(message) for message in prompt],
                add_generation_prompt=True,
                return_dict=True,
                return_tensors="pt",
            ),
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
        # One sequence decodes to one string (a batch would give a list).
        outputs.append(cast(str, tokenizer.decode(new_tokens, skip_special_tokens=True)))
    return outputs
