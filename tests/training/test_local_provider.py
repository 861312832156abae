"""The local provider without torch: availability, the launch form and checks, the hand-off
to the training-gpu queue, cancel, worker loss and retry, and the job page."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from curation.models import JobStatus
from curation.models.jobs import WORKER_LOST
from tests.factories import FineTuneJobFactory, built_version
from training.forms import LaunchForm
from training.models import FineTuneJob
from training.providers import get_local_backend
from training.providers.local import LocalProvider
from training.services import (
    LaunchError,
    cancel_finetune,
    check_launch,
    continue_finetune_job,
    create_finetune_job,
    retry_finetune,
    run_finetune_job,
)
from training.services.local.gpu_job import claim_gpu
from training.services.local.handoff import gpu_job_id

ROOT = Path(__file__).resolve().parents[2]
MODEL = "tiny/test-model"


def local_entry(**options: Any) -> dict[str, Any]:
    return {
        "name": "local",
        "kind": "local",
        "label": "Local GPU",
        "models": {MODEL: {"token_limit": 4096, "price_per_million": 0}},
        "device": "cpu",
        **options,
    }


@pytest.fixture
def local_settings(settings: Any) -> Any:
    settings.CURATOR_TRAINING_PROVIDERS = [
        {
            "name": "simulator",
            "kind": "simulator",
            "label": "OpenAI simulator",
            "models": {"gpt-4.1-mini-2025-04-14": {"token_limit": 65536, "price_per_million": 5}},
        },
        local_entry(),
    ]
    return settings


def logged_in(user: Any) -> Any:
    # This folder's conftest names an OpenAI client "client"; pages need Django's.
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def gpu_queue(clear_queues: None) -> Any:
    import django_rq

    return django_rq.get_queue("training-gpu")


@pytest.fixture
def gpu_worker(gpu_queue: Any) -> Iterator[Any]:
    """A worker registered in Redis for the GPU queue, as `rqworker training-gpu` does."""
    from rq import Worker

    worker = Worker([gpu_queue], connection=gpu_queue.connection, name=f"gpu-{uuid.uuid4().hex}")
    worker.register_birth()
    yield worker
    worker.register_death()


def launch(dataset: Any, **hyperparameters: Any) -> FineTuneJob:
    return create_finetune_job(
        version=built_version(dataset),
        provider="local",
        base_model=MODEL,
        hyperparameters={"n_epochs": 2, **hyperparameters},
        user=None,
        enqueue=False,
    )


# -- the web process never imports torch ----------------------------------------------------


def test_web_modules_do_not_import_torch(db: Any) -> None:
    # The launch form reads the dataset's versions: the child uses this test's database.
    database = connection.settings_dict
    database_url = (
        f"postgres://{database['USER']}@{database['HOST']}:{database['PORT'] or 5432}"
        f"/{database['NAME']}"
    )
    code = """
import sys
import django
django.setup()
from django.conf import settings
settings.CURATOR_TRAINING_PROVIDERS = [
    {"name": "local", "kind": "local", "label": "Local", "models": {"m": {"token_limit": 9, "price_per_million": 0}}}
]
import curation.urls, training.views, training.providers.local, training.forms
import training.services.local.gpu_job, training.local_jobs
from django.template.loader import render_to_string
from curation.models import Dataset
from training.forms import LaunchForm
from training.providers import get_local_backend
form = LaunchForm(data={"provider": "local", "lora_rank": "8"}, dataset=Dataset(pk=1, slug="d"))
html = render_to_string("training/_local_settings.html", {"form": form})
assert "Local LoRA settings" in html, html
get_local_backend("local").availability()
print(",".join(m for m in ("torch", "transformers", "peft", "accelerate") if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **__import__("os").environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
        },
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == ""


# -- the GPU-queue backend ------------------------------------------------------------------


def test_provider_is_built_from_settings(local_settings: Any) -> None:
    provider = get_local_backend("local")
    assert isinstance(provider, LocalProvider)
    assert provider.device == "cpu" and provider.queue_name == "training-gpu"
    assert provider.sample_count == 5


# -- availability and the launch checks -------------------------------------------------------


@pytest.mark.django_db
def test_no_gpu_worker_means_unavailable_and_refused(
    local_settings: Any, dataset: Any, gpu_queue: Any
) -> None:
    check = check_launch(version=built_version(dataset), provider="local", base_model=MODEL)
    assert not check.ok
    assert any("no worker is listening on the training-gpu queue" in p for p in check.problems)
    assert check.gpu_workers == ()
    with pytest.raises(LaunchError, match="rqworker training-gpu"):
        launch(dataset)
    assert not FineTuneJob.objects.exists()


@pytest.mark.django_db
def test_missing_extra_is_refused(
    local_settings: Any, dataset: Any, gpu_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("training.providers.local.is_available", lambda: False)
    check = check_launch(version=built_version(dataset), provider="local", base_model=MODEL)
    assert check.problems == [
        "Local GPU: the local-training extra (torch, transformers, peft) is not installed "
        "here: pip install -e '.[local-training]'"
    ]


@pytest.mark.django_db
def test_a_live_gpu_worker_makes_it_available(
    local_settings: Any, dataset: Any, gpu_worker: Any
) -> None:
    check = check_launch(version=built_version(dataset), provider="local", base_model=MODEL)
    assert check.ok, check.problems
    assert check.gpu_workers == (gpu_worker.name,)
    assert check.cost_text == "$0.00"
    assert check.epochs == 3  # "auto" is the local trainer's default, not the hosted guess


@pytest.mark.django_db
def test_launch_stores_local_settings(local_settings: Any, dataset: Any, gpu_worker: Any) -> None:
    job = launch(dataset, lora_rank=4, learning_rate="0.01", merge_weights=True)
    assert job.provider_kind == "local" and job.is_local
    assert job.hyperparameters["lora_rank"] == 4
    assert job.hyperparameters["learning_rate"] == 0.01
    assert job.hyperparameters["merge_weights"] is True
    assert job.hyperparameters["lora_alpha"] == 32  # defaults fill what was not given
    assert job.estimated_cost == 0
    with pytest.raises(LaunchError, match="absolute learning rate"):
        launch(dataset, learning_rate_multiplier=2)
    with pytest.raises(LaunchError, match="LoRA rank"):
        launch(dataset, lora_rank=0)


# -- the launch form and page -----------------------------------------------------------------


def form_data(version: Any, provider: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": version.number,
        "provider": provider,
        "base_model": MODEL if provider == "local" else "gpt-4.1-mini-2025-04-14",
        "method": "supervised",
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        **extra,
    }


@pytest.mark.django_db
def test_form_validates_local_settings_only_for_a_local_provider(
    local_settings: Any, dataset: Any
) -> None:
    version = built_version(dataset)
    hosted = LaunchForm(form_data(version, "simulator", lora_rank="zero"), dataset=dataset)
    assert hosted.is_valid(), hosted.errors
    assert "lora_rank" not in hosted.hyperparameters

    local = LaunchForm(form_data(version, "local", lora_rank="zero"), dataset=dataset)
    assert not local.is_valid()
    assert "lora_rank" in local.errors

    local = LaunchForm(
        form_data(version, "local", lora_rank="8", lora_dropout="0.1", packing="on"),
        dataset=dataset,
    )
    assert local.is_valid(), local.errors
    assert local.hyperparameters["lora_rank"] == 8
    assert local.hyperparameters["packing"] is True
    # Unchecked in a plain form means off; empty numbers mean the defaults.
    assert local.hyperparameters["merge_weights"] is False
    assert local.hyperparameters["max_seq_length"] == 2048


@pytest.mark.django_db
def test_launch_page_shows_the_fieldset_and_why_it_cannot_run(
    local_settings: Any, dataset: Any, admin_user: Any, gpu_queue: Any
) -> None:
    built_version(dataset)
    client = logged_in(admin_user)
    page = client.get(reverse("finetune_launch", args=[dataset.slug]) + "?provider=local")
    html = page.content.decode()
    assert 'id="local-settings"' in html and "Local LoRA settings" in html
    assert 'data-kind="local"' in html  # what the stylesheet keys the fieldset on
    assert 'name="lora_rank" value="16"' in html  # defaults shown
    assert 'name="learning_rate" value="0.0002"' in html
    assert "no worker is listening on the training-gpu queue" in html

    response = client.post(
        reverse("finetune_launch", args=[dataset.slug]),
        form_data(dataset.versions.get(), "local", lora_rank="8"),
    )
    assert response.status_code == 200
    assert not FineTuneJob.objects.exists()


@pytest.mark.django_db
def test_launch_page_posts_a_local_job(
    local_settings: Any, dataset: Any, admin_user: Any, gpu_worker: Any
) -> None:
    version = built_version(dataset)
    client = logged_in(admin_user)
    response = client.post(
        reverse("finetune_launch", args=[dataset.slug]),
        form_data(version, "local", lora_rank="8", learning_rate="0.001", packing="on"),
    )
    job = FineTuneJob.objects.get()
    assert response.status_code == 302
    assert job.provider_kind == "local"
    assert job.hyperparameters["lora_rank"] == 8 and job.hyperparameters["packing"] is True
    # "Launch again" brings the local settings back into the form.
    job.status = JobStatus.FAILED
    job.save()
    page = client.get(reverse("finetune_launch", args=[dataset.slug]) + "?" + job.relaunch_query)
    html = page.content.decode()
    assert 'name="lora_rank" value="8"' in html
    assert 'name="learning_rate" value="0.001"' in html


# -- the hand-off to the GPU queue --------------------------------------------------------------


@pytest.mark.django_db
def test_one_gpu_job_per_chain_and_the_wait_is_explained(
    local_settings: Any,
    dataset: Any,
    gpu_worker: Any,
    gpu_queue: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = launch(dataset)
    scheduled: list[float] = []
    with django_capture_on_commit_callbacks(execute=True):
        delay = run_finetune_job(job_id=job.pk, schedule=lambda _job, d: scheduled.append(d))
    job.refresh_from_db()
    assert delay is not None and scheduled == [delay]
    assert job.status == JobStatus.RUNNING and job.remote_status == "queued"
    assert job.remote_job_id == gpu_job_id(job.pk, job.chain)
    assert gpu_queue.job_ids == [job.remote_job_id]
    assert [row["status"] for row in job.timeline] == ["queued", "gpu_queued"]
    assert "Waiting for a free GPU worker (1 listening on training-gpu" in job.last_problem
    assert job.next_check_at is not None

    # The next poll of the same chain queues nothing more; it keeps the row alive.
    with django_capture_on_commit_callbacks(execute=True):
        continue_finetune_job(job_id=job.pk, chain=job.chain, schedule=lambda *_: None)
    assert gpu_queue.job_ids == [job.remote_job_id]
    # A second delivery of the first job does nothing at all.
    assert run_finetune_job(job_id=job.pk, schedule=lambda *_: None) is None

    # Without a GPU worker the page says how to start one.
    gpu_worker.register_death()
    continue_finetune_job(job_id=job.pk, chain=job.chain, schedule=lambda *_: None)
    job.refresh_from_db()
    assert "none is listening on the training-gpu queue" in job.last_problem


@pytest.mark.django_db
def test_a_gpu_job_that_vanished_is_queued_again(
    local_settings: Any,
    dataset: Any,
    gpu_worker: Any,
    gpu_queue: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = launch(dataset)
    # Inside the test transaction the on-commit enqueue never runs: as if lost on the way.
    run_finetune_job(job_id=job.pk, schedule=lambda *_: None)
    job.refresh_from_db()
    assert gpu_queue.job_ids == []
    with django_capture_on_commit_callbacks(execute=True):
        continue_finetune_job(job_id=job.pk, chain=job.chain, schedule=lambda *_: None)
    assert gpu_queue.job_ids == [job.remote_job_id]


@pytest.mark.django_db
def test_cancel_takes_the_waiting_gpu_job_off_the_queue(
    local_settings: Any,
    dataset: Any,
    gpu_worker: Any,
    gpu_queue: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = launch(dataset)
    with django_capture_on_commit_callbacks(execute=True):
        run_finetune_job(job_id=job.pk, schedule=lambda *_: None)
    job.refresh_from_db()
    done, _message = cancel_finetune(job=job, user=None)
    assert done and job.status == JobStatus.CANCELLED
    assert gpu_queue.job_ids == []
    # The GPU job, had it been picked up anyway, would not train.
    assert not claim_gpu(job=job, chain=job.chain)
    assert continue_finetune_job(job_id=job.pk, chain=job.chain, schedule=lambda *_: None) is None


@pytest.mark.django_db
def test_a_silent_gpu_worker_is_lost_and_retry_hands_off_again(
    local_settings: Any,
    dataset: Any,
    gpu_worker: Any,
    gpu_queue: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = launch(dataset)
    with django_capture_on_commit_callbacks(execute=True):
        run_finetune_job(job_id=job.pk, schedule=lambda *_: None)
    job.refresh_from_db()
    first_chain = job.chain
    assert claim_gpu(job=job, chain=first_chain)
    assert not claim_gpu(job=job, chain=first_chain)  # a duplicate delivery
    # Once a GPU worker has the row, the training queue's chain stops beating for it.
    assert continue_finetune_job(job_id=job.pk, chain=first_chain, schedule=lambda *_: None) is None

    # The GPU worker dies: no more heartbeats.
    FineTuneJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(hours=1),
        next_check_at=timezone.now() - timedelta(hours=1),
    )
    job.refresh_lost()
    assert job.status == JobStatus.FAILED and job.error == WORKER_LOST
    assert job.can_retry

    with django_capture_on_commit_callbacks(execute=True):
        assert retry_finetune(job=job, user=None)
        run_finetune_job(job_id=job.pk, schedule=lambda *_: None)
    job.refresh_from_db()
    assert job.chain != first_chain and job.remote_status == "queued"
    assert job.remote_job_id == gpu_job_id(job.pk, job.chain)
    assert job.remote_job_id in gpu_queue.job_ids
    # The old chain's GPU job, if it ever ran again, would not touch the row.
    assert not claim_gpu(job=job, chain=first_chain)


# -- the job page ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_job_page_shows_adapter_and_samples_escaped(
    local_settings: Any,
    dataset: Any,
    admin_user: Any,
) -> None:
    job = FineTuneJobFactory(
        dataset=dataset,
        provider="local",
        provider_label="Local GPU",
        provider_is_simulator=False,
        provider_kind="local",
        base_model=MODEL,
        status=JobStatus.SUCCEEDED,
        remote_status="succeeded",
        remote_job_id="training_local-1-abc",
        fine_tuned_model="adapters/support/v1/x",
        artifacts={
            "adapter": "adapters/support/v1/x",
            "files": [{"name": "adapters/support/v1/x/adapter_model.safetensors", "size": 2048}],
            "merged": None,
            "model_card": "adapters/support/v1/x/README.md",
            "device": "cpu",
            "precision": "fp32",
            "seconds": 3.2,
            "valid_loss": 0.5,
        },
        samples=[
            {
                "source": "validation.jsonl",
                "prompt": [{"role": "user", "content": "Say <b>hi</b>"}],
                "reference": "<i>hi</i>",
                "generated": "<script>alert(1)</script>",
            }
        ],
    )
    html = logged_in(admin_user).get(job.get_absolute_url()).content.decode()
    assert 'id="local-samples"' in html and 'id="local-adapter"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "Say &lt;b&gt;hi&lt;/b&gt;" in html and "&lt;i&gt;hi&lt;/i&gt;" in html
    assert "adapter_model.safetensors" in html
    assert "GPU job" in html and "Training file" not in html


def test_samples_are_cut_before_the_last_reply(tmp_path: Path) -> None:
    from training.services.local_artifacts import sample_prompts

    lines = [
        {"messages": [{"role": "assistant", "content": "no prompt"}]},
        {
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1", "weight": 0},
                {"role": "user", "content": "q2"},
                {"role": "assistant", "content": "a2"},
            ]
        },
    ]
    path = tmp_path / "validation.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n{bad\n", encoding="utf-8")
    [sample] = sample_prompts(path, count=5)
    assert sample["reference"] == "a2"
    assert [m["content"] for m in sample["prompt"]] == ["s", "q1", "a1", "q2"]
    assert all("weight" not in m for m in sample["prompt"])


@pytest.mark.django_db
def test_finetune_wait_follows_the_gpu_worker_to_the_end(
    local_settings: Any, dataset: Any, gpu_worker: Any
) -> None:
    """`manage.py finetune --wait` (drive_finetune) keeps watching once a GPU worker has
    the job, instead of returning while it trains."""
    from training.services import drive_finetune

    job = launch(dataset)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        # Stands in for a GPU worker elsewhere: it picks the job up, then finishes it.
        sleeps.append(seconds)
        row = FineTuneJob.objects.get(pk=job.pk)
        if row.remote_status == "queued":
            assert claim_gpu(job=row, chain=row.chain)
        elif len(sleeps) == 3:
            FineTuneJob.objects.filter(pk=job.pk).update(
                status=JobStatus.SUCCEEDED, remote_status="succeeded"
            )

    finished = drive_finetune(job_id=job.pk, sleep=sleep)
    assert finished.status == JobStatus.SUCCEEDED
    assert len(sleeps) == 3


@pytest.mark.django_db
def test_a_gpu_worker_without_the_extra_fails_the_job_with_a_retry(
    local_settings: Any, dataset: Any, gpu_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.local_jobs import run_local_training

    job = launch(dataset)
    run_finetune_job(job_id=job.pk, schedule=lambda *_: None)
    job.refresh_from_db()
    # As on a machine without torch: the extra's packages cannot be found.
    monkeypatch.setattr("training.services.local.gpu_job.is_available", lambda: False)
    assert run_local_training(job.pk, job.chain) == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "extra_missing"
    assert "pip install -e '.[local-training]'" in job.error
    assert job.can_retry
    assert job.events.filter(level="error").exists()
