"""What Together hands back, read as Together reports it: metrics under its own keys (one
event per step), adapters as ``.tar.zst`` unpacked into storage, full fine-tunes downloaded
as the full model. Requests and replies go through the real together SDK, captured below it.
"""

from __future__ import annotations

import io
import json
import tarfile
from datetime import timedelta
from typing import Any

import pytest
import zstandard
from django.core.files.storage import default_storage
from django.utils import timezone

from tests.factories import FineTuneJobFactory
from tests.training.capture import Captured, capture, vendor_fixture
from training.providers.base import RemoteJob
from training.providers.together_provider import TogetherProvider
from training.services.remote_artifacts import store_remote_adapter

# GET /v1/fine-tunes/{id}/events: FinetuneEvent fields as together 3.1.1 types them
# (together/types/finetune_event.py); a checkpoint saved at step 2.
EVENTS = {
    "data": [
        {
            "object": "fine-tune-event",
            "created_at": "2026-12-07T12:00:00Z",
            "level": "info",
            "message": "Training started",
            "type": "training_start",
        },
        {
            "object": "fine-tune-event",
            "created_at": "2026-12-07T12:01:00Z",
            "level": "info",
            "message": "Checkpoint saved at step 2",
            "type": "checkpoint_save",
            "step": 2,
            "total_steps": 3,
        },
    ]
}
# GET /v1/fine-tunes/{id}/metrics: keys as Together reports them (the together 3.1.1 CLI
# plots row["train/global_step"]: lib/cli/components/plot_finetune_metrics.py).
METRICS = {
    "metrics": [
        {"train/global_step": 1, "train/loss": 2.5, "train/learning_rate": 1e-5},
        {"train/global_step": 2, "train/loss": 2.1, "eval/loss": 2.3},
        {"train/global_step": 3, "train/loss": 1.9},
    ]
}


def adapter_archive() -> bytes:
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:
        for name, text in {
            "adapter_config.json": json.dumps({"r": 8, "peft_type": "LORA"}),
            "README.md": "adapter",
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return zstandard.ZstdCompressor().compress(packed.getvalue())


def together_api(request: Any) -> tuple[int, Any] | None:
    path = request.url.path
    if path.endswith("/events"):
        return 200, EVENTS
    if path.endswith("/metrics"):
        return 200, METRICS
    if path == "/v1/finetune/download":
        return 200, adapter_archive()
    return None


@pytest.fixture
def together(monkeypatch: Any) -> tuple[TogetherProvider, Captured]:
    return TogetherProvider(api_key="fake-together-key"), capture(monkeypatch, together_api)


def test_metrics_are_read_under_togethers_keys(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, _ = together
    assert provider.metrics("ft-1") == [
        {"step": 1, "train_loss": 2.5},
        {"step": 2, "train_loss": 2.1, "valid_loss": 2.3},
        {"step": 3, "train_loss": 1.9},
    ]


def test_each_step_is_one_event_carrying_its_metrics(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, _ = together
    events = provider.list_events("ft-1")

    steps = [event.data.get("step") for event in events if event.data.get("step")]
    assert steps == [2, 1, 3]
    assert len(steps) == len(set(steps))
    checkpoint = events[1]
    assert checkpoint.message == "Checkpoint saved at step 2"
    assert checkpoint.metrics == {
        "step": 2,
        "train_loss": 2.1,
        "valid_loss": 2.3,
        "total_steps": 3,
    }


def remote(lora: bool) -> RemoteJob:
    return RemoteJob(
        id="ft-1",
        status="succeeded",
        model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        training_file="file-1",
        created_at=0,
        fine_tuned_model="acme/llama-ft",
        hyperparameters={"lora": lora},
    )


@pytest.mark.django_db
def test_a_tar_zst_adapter_is_unpacked_into_storage(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, captured = together
    job = FineTuneJobFactory(provider="together", provider_kind="together")

    store_remote_adapter(job=job, provider=provider, remote=remote(lora=True))

    prefix = job.artifacts["adapter"]
    config = json.loads(default_storage.open(f"{prefix}/adapter_config.json").read())
    assert config == {"r": 8, "peft_type": "LORA"}
    assert job.artifacts["archive"].endswith(".tar.zst")
    (download,) = [r for r in captured.requests if r.url.path == "/v1/finetune/download"]
    assert download.url.params["checkpoint"] == "adapter"


@pytest.mark.django_db
def test_a_full_fine_tune_is_downloaded_as_the_full_model(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, captured = together
    job = FineTuneJobFactory(provider="together", provider_kind="together")

    store_remote_adapter(job=job, provider=provider, remote=remote(lora=False))

    (download,) = [r for r in captured.requests if r.url.path == "/v1/finetune/download"]
    assert download.url.params["checkpoint"] == "model_output_path"


@pytest.mark.django_db
def test_an_estimate_under_a_minute_never_reads_about_0_minutes() -> None:
    job = FineTuneJobFactory(
        status="running", estimated_finish=timezone.now() + timedelta(seconds=40)
    )
    assert job.finish_eta_text == "within a minute"
    job.estimated_finish = timezone.now() + timedelta(minutes=12, seconds=30)
    assert job.finish_eta_text == "in about 12\xa0minutes"


def test_a_completed_full_fine_tune_is_read_as_together_reports_it(monkeypatch: Any) -> None:
    job = vendor_fixture("together_finetune_completed_full.json")
    capture(
        monkeypatch,
        lambda r: (200, job) if r.url.path == f"/v1/fine-tunes/{job['id']}" else None,
    )

    remote = TogetherProvider(api_key="fake-together-key").get_job(job["id"])

    assert remote.status == "succeeded"
    assert remote.fine_tuned_model == job["model_output_name"]
    assert remote.trained_tokens == 123456
    assert remote.seed == 7
    assert remote.hyperparameters["lora"] is False
    assert remote.hyperparameters["n_epochs"] == 2
    assert remote.estimated_finish is None
