"""Local training as its own process group on CPU: two data-parallel processes (gloo) with
the tiny model, and a GPU worker killed mid-run whose job Retry resumes from the last
checkpoint (optimizer and data position), not from step 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from curation.models import JobStatus
from tests.conftest import ROOT, WORKER_START, database_url
from tests.training import test_local_provider_training as local
from tests.training.conftest import wait_until
from training.models import FineTuneCheckpoint, FineTuneJob
from training.services import retry_finetune
from training.services.local.gpu_job import run_local_training_job

# The tiny model and the local provider, as the single-process tests set them up.
base_dir = local.base_dir
gpu_worker = local.gpu_worker
local_settings = local.local_settings
launch, hand_off, local_entry = local.launch, local.hand_off, local.local_entry


@pytest.mark.django_db
def test_two_processes_train_one_adapter_data_parallel(
    local_settings: Any, dataset: Any, gpu_worker: Any, base_dir: Path
) -> None:
    job = launch(dataset, base_dir, gpus=2, n_epochs=2, eval_every=0, save_every=0)
    chain = hand_off(job)

    assert run_local_training_job(job_id=job.pk, chain=chain) == "succeeded"

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.artifacts["gpus"] == 2 and job.resolved_hyperparameters["gpus"] == 2
    assert job.events.filter(message__contains="x 2 processes").exists()
    losses = list(
        job.metrics.filter(train_loss__isnull=False)
        .order_by("step")
        .values_list("train_loss", flat=True)
    )
    assert losses[-1] < losses[0]
    assert job.samples and all(sample["before"] is not None for sample in job.samples)


def _worker_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_retry_after_a_killed_worker_resumes_from_the_last_checkpoint(
    settings: Any,
    base_dir: Path,
    dataset: Any,
    gpu_worker: Any,
    run_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker processes read the same local provider from their environment.
    monkeypatch.setenv("CURATOR_LOCAL_MODELS", str(base_dir))
    monkeypatch.setenv("CURATOR_LOCAL_DEVICE", "cpu")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    entry = local_entry(base_dir)
    entry.pop("sample_max_new_tokens")
    settings.CURATOR_TRAINING_PROVIDERS = [entry]
    # Enough steps that the kill (at the first checkpoint past 20) lands mid-run, few enough
    # that the retry's remaining steps stay cheap on a 2-core machine.
    total = 120
    job = launch(
        dataset, base_dir, enqueue=True, max_steps=total, save_every=10, eval_every=0, n_epochs=50
    )
    env = _worker_env()
    worker = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "rqworker",
            "training",
            "training-gpu",
            "--burst",
            *WORKER_START,
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: FineTuneCheckpoint.objects.filter(job=job, step__gte=20).exists(), timeout=300
        )
    finally:
        # The worker and its work horse die at once; torchrun runs in a session of its own
        # and its ranks take themselves down once the work horse is gone.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    wait_until(lambda: _quiet(job), timeout=60)
    FineTuneJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    job.refresh_from_db()
    job.refresh_lost()
    assert job.status == JobStatus.FAILED and job.can_retry, (job.status, job.error)
    resumed_at = job.checkpoints.order_by("-step").first().step

    assert retry_finetune(job=job, user=None)
    run_worker("training", "training-gpu", timeout=600)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.last_problem)
    assert job.events.filter(
        message=f"Resumed from the checkpoint at step {resumed_at} of {total}"
    ).exists()
    # Step 1 was trained once, by the first run: the retry began after the checkpoint.
    assert job.events.filter(message__startswith=f"Step 1/{total}:").count() == 1
    trained = job.metrics.filter(train_loss__isnull=False).order_by("step")
    assert list(trained.values_list("step", flat=True)) == list(range(1, total + 1))


def _quiet(job: FineTuneJob) -> bool:
    """No training step reported for a while: the killed run's processes are gone."""
    before = job.metrics.count()
    time.sleep(3)
    return job.metrics.count() == before
