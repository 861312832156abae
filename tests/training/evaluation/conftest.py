"""Fixtures for the evaluation tests: the simulator as the provider (chat included), a
version with tool and text examples, a fine-tune of it that really ran on the simulator."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from curation.models import DatasetVersion
from tests.factories import simulator_provider
from training.services import create_finetune_job, drive_finetune
from training.simulator import SimulatorServer

BASE = "gpt-4o-mini-2024-07-18"
# A third model as judge: the judge is never one of the models it judges.
JUDGE = "openai:gpt-4.1-2025-04-14"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_invoice",
            "parameters": {"type": "object", "properties": {"number": {"type": "integer"}}},
        },
    }
]


def text_example(index: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You answer questions about invoices."},
            {"role": "user", "content": f"What is the total of invoice {index}?"},
            {"role": "assistant", "content": f"Invoice {index} totals {index * 10} euros."},
        ]
    }


def tool_example(index: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"Look up invoice number {index} please"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{index}",
                        "type": "function",
                        "function": {
                            "name": "lookup_invoice",
                            "arguments": json.dumps({"number": index}),
                        },
                    }
                ],
            },
        ],
        "tools": TOOLS,
    }


def make_version(
    dataset: Any, *, train: list[dict], validation: list[dict], number: int = 1
) -> DatasetVersion:
    """A built version whose files are really in storage (no snapshot build needed)."""
    files = {}
    for name, examples in (("train.jsonl", train), ("validation.jsonl", validation)):
        data = "".join(json.dumps(example) + "\n" for example in examples).encode()
        stored = default_storage.save(f"test-eval/{dataset.pk}/v{number}/{name}", ContentFile(data))
        files[name] = {
            "name": stored,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "examples": len(examples),
        }
    return DatasetVersion.objects.create(
        dataset=dataset,
        number=number,
        status="succeeded",
        examples=len(train) + len(validation),
        train_examples=len(train),
        validation_examples=len(validation),
        total_tokens=30 * (len(train) + len(validation)),
        files=files,
        stats={"tokens": {"total": 1, "train": 1, "validation": 1, "max_per_example": 40}},
    )


@pytest.fixture
def eval_version(dataset: Any) -> DatasetVersion:
    return make_version(
        dataset,
        train=[text_example(i) for i in range(12)],
        validation=[text_example(i) for i in range(100, 106)] + [tool_example(7), tool_example(8)],
    )


def simulator_settings(settings: Any, server: SimulatorServer) -> None:
    settings.CURATOR_TRAINING_PROVIDERS = [simulator_provider(server.base_url, name="openai")]
    settings.CURATOR_SIMULATOR_URL = server.base_url
    settings.CURATOR_TRAINING_POLL_SECONDS = 0.02
    settings.CURATOR_TRAINING_POLL_MAX_SECONDS = 0.1
    settings.CURATOR_EVAL_RETRY_SECONDS = 0.01
    settings.CURATOR_EVAL_TIMEOUT = 5


@pytest.fixture
def sim(settings: Any, monkeypatch: Any) -> Iterator[SimulatorServer]:
    """The simulator on a free port as the only provider, here and in worker processes."""
    with SimulatorServer(port=0, speed=2000) as server:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("CURATOR_SIMULATOR_URL", server.base_url)
        monkeypatch.setenv("CURATOR_EVAL_RETRY_SECONDS", "0.01")
        simulator_settings(settings, server)
        yield server


def trained(version: DatasetVersion, provider: str, base: str) -> Any:
    """A one-epoch fine-tune of `version` on `provider` that really ran (fast) to success."""
    job = create_finetune_job(
        version=version,
        provider=provider,
        base_model=base,
        hyperparameters={"n_epochs": 1},
        user=None,
        enqueue=False,
    )
    job = drive_finetune(job_id=job.pk, sleep=lambda seconds: time.sleep(0.02))
    assert job.status == "succeeded", job.error
    return job


@pytest.fixture
def text_version(dataset: Any) -> DatasetVersion:
    """Text examples only: 12 to train on, 6 to evaluate."""
    return make_version(
        dataset,
        train=[text_example(i) for i in range(12)],
        validation=[text_example(i) for i in range(100, 106)],
    )


@pytest.fixture
def finetune(sim: SimulatorServer, dataset: Any, eval_version: DatasetVersion) -> Any:
    """A fine-tune of ``eval_version`` that really ran (fast) on the simulator."""
    return trained(eval_version, "openai", BASE)


@pytest.fixture
def eval_queue() -> Iterator[None]:
    import django_rq

    django_rq.get_queue("eval").empty()
    yield
    django_rq.get_queue("eval").empty()


@pytest.fixture
def client() -> Any:
    """Django's test client (tests/training/conftest.py's ``client`` is an OpenAI SDK one)."""
    from django.test import Client

    return Client()
