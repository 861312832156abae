"""Local LoRA fine-tunes trained for real on CPU: a tiny Qwen2 and a tokenizer built here from
a config (nothing downloaded), trained a few steps on a built snapshot, through the same job
lifecycle as hosted providers: the training queue's hand-off, the GPU job, cancel, and real
burst workers."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from curation.models import JobStatus
from tests.factories import built_version, finetune_example
from tests.training.tiny_model import save_tiny_base
from training.models import FineTuneJob
from training.services import cancel_finetune, create_finetune_job, run_finetune_job
from training.services.local.callbacks import JobCallbacks
from training.services.local.gpu_job import run_local_training_job

pytestmark = pytest.mark.filterwarnings(
    # peft 0.21 still asks transformers 5 for the old attribute name.
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)

# Few enough steps to run in seconds on two cores, enough for the loss to fall clearly.
SETTINGS = {
    "n_epochs": 6,
    "batch_size": 1,
    "learning_rate": 0.01,
    "max_seq_length": 128,
    "lora_rank": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "eval_every": 8,
    "save_every": 12,
}


@pytest.fixture(scope="module")
def base_dir(torch_stack: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BPE tokenizer trained on the snapshot's words and a 2-layer Qwen2 sized to it."""
    corpus = [
        " ".join(f"{m['role']} {m['content']}" for m in finetune_example(i)["messages"])
        for i in range(40)
    ]
    return save_tiny_base(
        tmp_path_factory.mktemp("tiny-qwen2"),
        architecture="qwen2",
        corpus=corpus * 5,
        vocab_size=400,
    )


def local_entry(base_dir: Path) -> dict[str, Any]:
    return {
        "name": "local",
        "kind": "local",
        "label": "Local GPU",
        "models": {str(base_dir): {"token_limit": 4096, "price_per_million": 0}},
        "device": "cpu",
        "sample_max_new_tokens": 8,
    }


@pytest.fixture
def local_settings(settings: Any, base_dir: Path) -> Any:
    settings.CURATOR_TRAINING_PROVIDERS = [local_entry(base_dir)]
    # Every should_stop() asks the database, so a cancel is seen at the very next step.
    settings.CURATOR_LOCAL_STOP_CHECK_SECONDS = 0
    return settings


@pytest.fixture
def gpu_worker(clear_queues: None) -> Iterator[Any]:
    """A worker registered for the GPU queue, so the launch checks pass."""
    import django_rq
    from rq import Worker

    queue = django_rq.get_queue("training-gpu")
    worker = Worker([queue], connection=queue.connection, name=f"gpu-{uuid.uuid4().hex}")
    worker.register_birth()
    yield worker
    worker.register_death()


def launch(dataset: Any, base_dir: Path, *, enqueue: bool = False, **extra: Any) -> FineTuneJob:
    return create_finetune_job(
        version=built_version(dataset),
        provider="local",
        base_model=str(base_dir),
        hyperparameters={**SETTINGS, **extra},
        seed=3,
        user=None,
        enqueue=enqueue,
    )


def hand_off(job: FineTuneJob) -> str:
    """The training queue's part: claim the row and hand it to the GPU queue."""
    run_finetune_job(job_id=job.pk, schedule=lambda *_: None)
    job.refresh_from_db()
    assert job.remote_status == "queued"
    return job.chain


@pytest.mark.django_db
def test_a_local_job_trains_and_ends_like_a_hosted_one(
    local_settings: Any, dataset: Any, admin_user: Any, gpu_worker: Any, base_dir: Path
) -> None:
    job = launch(dataset, base_dir, merge_weights=True)
    chain = hand_off(job)
    assert run_local_training_job(job_id=job.pk, chain=chain) == "succeeded"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.remote_status == "succeeded"
    assert [row["status"] for row in job.timeline] == [
        "queued",
        "gpu_queued",
        "running",
        "succeeded",
    ]

    # 12 examples packed into rows of 128 tokens, one row a step, 6 epochs.
    metrics = list(job.metrics.order_by("step"))
    losses = [m.train_loss for m in metrics if m.train_loss is not None]
    total = len(losses)
    assert job.done == job.total == total and total % 6 == 0 and total >= 18
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4
    valid = [(m.step, m.valid_loss) for m in metrics if m.valid_loss is not None]
    # Before the first step, every 8 steps, and after the last.
    assert [step for step, _ in valid] == [0, *range(8, total, 8), total]
    assert valid[-1][1] < valid[0][1]
    assert all(m.source == "local" for m in metrics)

    assert [c.step for c in job.checkpoints.all()] == list(range(12, total, 12))
    checkpoint = job.checkpoints.first()
    assert default_storage.exists(f"{checkpoint.fine_tuned_model_checkpoint}/adapter_config.json")
    assert checkpoint.metrics["train_loss"] == losses[11]

    # Every file of the adapter folder is in storage under the job's uid.
    prefix = f"adapters/{dataset.slug}/v{job.version.number}/{job.uid}"
    assert job.fine_tuned_model == prefix == job.artifacts["adapter"]
    stored = {f["name"].removeprefix(prefix + "/") for f in job.artifacts["files"]}
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= stored
    assert {"training_summary.json", "tokenizer.json", "merged/config.json"} <= stored
    assert job.artifacts["merged"] == f"{prefix}/merged"
    assert all(default_storage.exists(f["name"]) for f in job.artifacts["files"])
    with default_storage.open(f"{prefix}/README.md") as handle:
        card = handle.read().decode()
    assert f'base_model: "{base_dir}"' in card
    assert f"| train.jsonl | {job.version.file_info('train.jsonl')['sha256']} |" in card
    assert "| lora.rank | 8 |" in card and "| valid_loss |" in card

    assert job.resolved_hyperparameters["n_epochs"] == 6
    assert job.resolved_hyperparameters["seed"] == 3
    assert job.resolved_hyperparameters["bf16"] is False
    assert job.trained_tokens and job.trained_tokens > 0

    # Replies to the three validation prompts, beside their reference answers.
    assert [s["reference"] for s in job.samples] == [
        finetune_example(i)["messages"][-1]["content"] for i in range(12, 15)
    ]
    assert all(s["source"] == "validation.jsonl" for s in job.samples)
    assert all(isinstance(s["generated"], str) for s in job.samples)

    messages = list(job.events.values_list("message", flat=True))
    assert any(f"Step {total}/{total}: training loss" in m for m in messages)
    assert any("Checkpoint at step 12" in m for m in messages)

    # The adapter loads back from storage and generates.
    from peft import PeftModel

    from training.local.samples import generate_samples

    adapter = Path(default_storage.path(prefix))
    assert isinstance(
        PeftModel.from_pretrained(
            __import__("transformers").AutoModelForCausalLM.from_pretrained(base_dir), adapter
        ),
        PeftModel,
    )
    [reply] = generate_samples(
        base_model=base_dir,
        adapter_dir=adapter,
        prompts=[job.samples[0]["prompt"]],
        max_new_tokens=8,
        device="cpu",
    )
    assert reply == job.samples[0]["generated"]

    # The job page shows it with the same chart data, tables and sections as any job.
    client = Client()
    client.force_login(admin_user)
    html = client.get(job.get_absolute_url()).content.decode()
    curve = json.loads(html.split('id="finetune-curve" type="application/json">')[1].split("<")[0])
    assert curve["steps"][0] == 0 and len(curve["train_loss"]) == total + 1
    assert 'id="metrics-table"' in html and 'id="local-samples"' in html
    assert job.samples[0]["reference"] in html
    assert "adapter_model.safetensors" in html and f"{prefix}/checkpoints/step-000012" in html


@pytest.mark.django_db
def test_cancel_stops_the_training_processes_early(
    local_settings: Any,
    dataset: Any,
    gpu_worker: Any,
    base_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long enough that the cancel (passed to the process group as a stop file) lands mid-run.
    job = launch(dataset, base_dir, max_steps=400, eval_every=0, save_every=0)
    chain = hand_off(job)
    on_step = JobCallbacks.on_step

    def cancel_at_third(self: JobCallbacks, step: int, *args: Any) -> None:
        on_step(self, step, *args)
        if step == 3:
            # What the Cancel button does, while the trainer is between steps 3 and 4.
            assert cancel_finetune(job=FineTuneJob.objects.get(pk=job.pk), user=None)[0]

    monkeypatch.setattr(JobCallbacks, "on_step", cancel_at_third)
    assert run_local_training_job(job_id=job.pk, chain=chain) == "cancelled"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert 3 <= job.metrics.filter(train_loss__isnull=False).count() < 400
    assert job.fine_tuned_model == "" and job.artifacts == {} and job.samples == []
    assert job.events.filter(message__startswith="Stopping: the job was cancelled").exists()


@pytest.mark.django_db
def test_bad_settings_fail_the_job_for_good(
    local_settings: Any, dataset: Any, gpu_worker: Any, base_dir: Path
) -> None:
    job = launch(dataset, base_dir, max_seq_length=16)
    chain = hand_off(job)
    assert run_local_training_job(job_id=job.pk, chain=chain) == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "training_error"
    assert "assistant tokens" in job.error
    assert not job.can_retry  # the same settings would fail the same way: launch again


@pytest.mark.django_db
def test_a_changed_snapshot_file_is_not_trained_on(
    local_settings: Any, dataset: Any, gpu_worker: Any, base_dir: Path
) -> None:
    job = launch(dataset, base_dir)
    chain = hand_off(job)
    name = job.version.file_info("train.jsonl")["name"]
    with default_storage.open(name, "ab") as handle:
        handle.write(b'{"messages": []}\n')
    assert run_local_training_job(job_id=job.pk, chain=chain) == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "does not match its recorded sha256" in job.error
    assert not job.metrics.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_real_workers_run_a_local_job(
    settings: Any,
    base_dir: Path,
    dataset: Any,
    gpu_worker: Any,
    run_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker processes read the same provider from their environment (settings.py turns
    # CURATOR_LOCAL_MODELS into a provider entry): a setting that stopped being read fails here.
    monkeypatch.setenv("CURATOR_LOCAL_MODELS", str(base_dir))
    monkeypatch.setenv("CURATOR_LOCAL_DEVICE", "cpu")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    entry = local_entry(base_dir)
    entry.pop("sample_max_new_tokens")
    settings.CURATOR_TRAINING_PROVIDERS = [entry]
    job = launch(dataset, base_dir, enqueue=True, n_epochs=1)
    # One burst worker on both queues: the training job hands over, the GPU job trains.
    run_worker("training", "training-gpu")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.last_problem)
    assert job.done == job.total == job.metrics.filter(train_loss__isnull=False).count() > 0
    assert job.checkpoints.count() == 0 and len(job.samples) == 3
    assert default_storage.exists(f"{job.fine_tuned_model}/adapter_model.safetensors")
    assert job.attempts == 1 and os.environ["CURATOR_LOCAL_MODELS"] == str(base_dir)
