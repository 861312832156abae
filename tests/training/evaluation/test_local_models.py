"""Local base models and LoRA adapters are evaluated with batched transformers generation
(on the training-gpu queue; here on CPU with the suite's tiny model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.training.evaluation.conftest import text_example
from tests.training.tiny_model import save_tiny_base
from training.evaluation.models import EvalExample, ExampleStatus
from training.evaluation.services.runs import create_eval_run, run_eval_job
from training.registry.models import Model, ModelKind

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def base_dir(torch_stack: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = [
        " ".join(f"{m['role']} {m['content']}" for m in text_example(i)["messages"])
        for i in range(40)
    ]
    return save_tiny_base(
        tmp_path_factory.mktemp("tiny-eval"),
        architecture="qwen2",
        corpus=corpus * 5,
        vocab_size=400,
    )


@pytest.fixture
def local_provider(settings: Any, base_dir: Path) -> Path:
    settings.CURATOR_TRAINING_PROVIDERS = [
        {
            "name": "local",
            "kind": "local",
            "label": "Local GPU",
            "models": {str(base_dir): {"token_limit": 4096, "price_per_million": 0}},
            "device": "cpu",
        }
    ]
    return base_dir


def stored_adapter(base_dir: Path, tmp_path: Path) -> str:
    """An (untrained) LoRA adapter of the tiny base, saved to storage like a job's."""
    from django.core.files.storage import default_storage
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(base_dir)),
        LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    local = tmp_path / "adapter"
    model.save_pretrained(local)
    prefix = "test-adapters/eval-1"
    for path in local.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                default_storage.save(f"{prefix}/{path.relative_to(local)}", handle)
    return prefix


def test_a_local_base_model_answers_every_example_in_batches(
    local_provider: Path, dataset: Any, eval_version: Any
) -> None:
    run = create_eval_run(
        dataset=dataset,
        version=eval_version,
        model=f"local:{local_provider}",
        max_tokens=6,
        enqueue=False,
    )
    assert run.queue_name == "training-gpu"
    run = run_eval_job(run_id=run.pk)
    assert run.status == "succeeded", run.error
    assert run.metrics["scored"] == 8 and run.metrics["failed"] == 0
    rows = list(EvalExample.objects.filter(run=run))
    assert all(row.status == ExampleStatus.OK and row.completion_tokens <= 6 for row in rows)
    assert not run.is_simulated


def test_a_local_adapter_is_loaded_on_its_base(
    local_provider: Path, dataset: Any, eval_version: Any, tmp_path: Path
) -> None:
    base = Model.objects.create(kind=ModelKind.BASE, provider="local", name=str(local_provider))
    adapter = Model.objects.create(
        kind=ModelKind.LOCAL_ADAPTER,
        provider="local",
        name=stored_adapter(local_provider, tmp_path),
        base=base,
    )
    run = create_eval_run(
        dataset=dataset, version=eval_version, model=adapter, max_tokens=4, limit=3, enqueue=False
    )
    run = run_eval_job(run_id=run.pk)
    assert run.status == "succeeded", run.error
    assert EvalExample.objects.filter(run=run, status=ExampleStatus.OK).count() == 3
