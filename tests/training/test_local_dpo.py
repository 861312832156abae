"""Local DPO on CPU with the tiny model: a preference version built by Curator trains a LoRA
adapter whose reference is the base with the adapter disabled."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from tests.training.test_preference_training import preference_version
from tests.training.tiny_model import save_tiny_base

pytestmark = pytest.mark.django_db

WORDS = ["Be", "helpful", "Question", "Good", "Bad", "answer"]


@pytest.fixture(scope="module")
def base_dir(torch_stack: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = [f"system user assistant {' '.join(WORDS)} {n} ? ." for n in range(14)]
    return save_tiny_base(
        tmp_path_factory.mktemp("dpo-base"),
        architecture="llama",
        corpus=corpus * 10,
        vocab_size=200,
    )


def test_dpo_on_a_preference_version_raises_the_chosen_reply_over_the_rejected(
    base_dir: Path, dataset: Any, tmp_path: Path
) -> None:
    from training.local import LoraSettings
    from training.local.dpo import train_dpo_lora

    version = preference_version(dataset, pairs=12)
    train_path = default_storage.path(version.files["train.jsonl"]["name"])
    result = train_dpo_lora(
        base_model=base_dir,
        train_path=train_path,
        output_dir=tmp_path / "adapter",
        lora=LoraSettings(rank=8, alpha=16, dropout=0.0),
        beta=0.5,
        epochs=8,
        batch_size=4,
        learning_rate=2e-2,
        device="cpu",
    )
    # The adapter starts as a no-op: the policy equals the reference (base, adapter off).
    assert abs(result.margins[0]) < 1e-4
    assert result.losses[0] == pytest.approx(math.log(2), abs=1e-4)
    late = result.margins[-4:]
    assert sum(late) / len(late) > 0.5
    assert result.losses[-1] < math.log(2) / 2
    assert (tmp_path / "adapter" / "adapter_config.json").exists()


def test_a_chat_file_is_not_a_preference_file(base_dir: Path, tmp_path: Path) -> None:
    from training.local import LoraSettings
    from training.local.data import DataError
    from training.local.dpo import train_dpo_lora

    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "Question"}]}\n')
    with pytest.raises(DataError, match="line 1"):
        train_dpo_lora(
            base_model=base_dir,
            train_path=path,
            output_dir=tmp_path / "out",
            lora=LoraSettings(rank=4, alpha=8),
            device="cpu",
        )
