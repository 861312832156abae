"""The base model on a device, with LoRA adapters on top.

Importing this module imports torch: only the training processes and GPU jobs do.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, PreTrainedModel

from training.local import LoraSettings, TrainingError


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
    # transformers' decorated .to() is typed as if it took the model itself.
    return model.to(device)  # type: ignore[arg-type]


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
