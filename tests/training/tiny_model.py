"""A tiny base model built on the spot for the local-training tests: a BPE tokenizer trained
on the test's own words and a 2-layer causal LM sized to it, saved together like a downloaded
base model, so nothing is fetched and a few CPU steps visibly lower the loss.

Torch and friends are imported inside the functions: the modules importing this one skip
(``torch_stack`` in conftest) where the ``local-training`` extra is not installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Large enough that a frozen, tied embedding can still give peaked logits to learn towards.
INIT = 0.3


def save_tiny_base(
    directory: Path,
    *,
    architecture: Literal["llama", "qwen2"],
    corpus: Iterable[str],
    vocab_size: int,
) -> Path:
    """Train the tokenizer on ``corpus``, build the model (seeded, so every run starts from
    the same weights) and save both in ``directory``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(directory)

    config_class, model_class = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    }[architecture]
    torch.manual_seed(0)
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=INIT,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model_class(config).save_pretrained(directory)
    return directory
