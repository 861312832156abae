"""``manage.py finetune`` with LoRA flags and --method, on Together through the simulator:
the flags reach the provider's job, and --json names the adapter stored in Curator."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.factories import built_version
from training.models import FineTuneJob
from training.services import drive_finetune
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db

MODEL = "meta-llama/Llama-3.2-3B-Instruct"


@pytest.fixture
def fast(settings: Any, monkeypatch: Any) -> Iterator[SimulatorServer]:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with SimulatorServer(port=0, speed=2000) as server:
        settings.CURATOR_SIMULATOR_URL = server.base_url
        settings.CURATOR_TRAINING_PROVIDERS = [
            {
                "name": "together",
                "kind": "together",
                "api_key_env": "TOGETHER_API_KEY",
                "timeout": 5,
            },
            {"name": "openai", "kind": "openai", "api_key_env": "TOGETHER_API_KEY"},
        ]
        settings.CURATOR_TRAINING_POLL_SECONDS = 0.02
        settings.CURATOR_TRAINING_POLL_MAX_SECONDS = 0.1
        yield server


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("finetune", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_lora_flags_reach_together_and_json_names_the_adapter(
    fast: SimulatorServer, dataset: Any
) -> None:
    built_version(dataset)

    out = run(
        "--dataset", dataset.slug, "--version", "1", "--provider", "together", "--model", MODEL,
        "--method", "sft", "--lora-rank", "16", "--lora-alpha", "32", "--learning-rate", "0.0002",
        "--max-seq-len", "4096", "--wait", "--json",
    )  # fmt: skip

    summary = json.loads(out.strip().splitlines()[-1])
    job = FineTuneJob.objects.get(pk=summary["job"])
    assert summary["status"] == "succeeded"
    assert summary["adapter"] == job.artifacts["adapter"]
    [remote] = fast.state.shape_jobs("together")
    assert remote.extra["training_type"]["lora_r"] == 16
    assert remote.extra["training_type"]["lora_alpha"] == 32
    assert remote.extra["learning_rate"] == 0.0002
    assert job.hyperparameters["max_seq_length"] == 4096


def test_dpo_is_passed_as_together_s_training_method(fast: SimulatorServer, dataset: Any) -> None:
    from tests.training.test_preference_training import preference_version

    version = preference_version(dataset)

    run("--dataset", dataset.slug, "--version", str(version.number), "--provider", "together",
        "--model", MODEL, "--method", "dpo", "--json")  # fmt: skip

    job = FineTuneJob.objects.get()
    assert job.method == "dpo"
    drive_finetune(job_id=job.pk, sleep=lambda _s: None, max_steps=3)
    [remote] = fast.state.shape_jobs("together")
    assert remote.extra["training_method"]["method"] == "dpo"


def test_lora_flags_are_refused_where_the_provider_takes_none(
    fast: SimulatorServer, dataset: Any
) -> None:
    built_version(dataset)

    with pytest.raises(CommandError, match="--lora-rank: not taken by openai"):
        run("--dataset", dataset.slug, "--version", "1", "--provider", "openai",
            "--model", "gpt-4.1-mini-2025-04-14", "--lora-rank", "8")  # fmt: skip
