"""A local DPO job runs through the local provider's lifecycle on CPU (the tiny Qwen2): the
training queue hands it to the GPU queue, the DPO loop trains, the adapter is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from curation.models import JobStatus
from tests.training.test_local_provider_training import (  # noqa: F401
    base_dir,
    gpu_worker,
    hand_off,
    local_settings,
)
from tests.training.test_preference_training import preference_version
from training.services import create_finetune_job
from training.services.local.gpu_job import run_local_training_job

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def test_a_local_dpo_job_trains_and_stores_its_adapter(
    local_settings: Any,  # noqa: F811
    dataset: Any,
    gpu_worker: Any,  # noqa: F811
    base_dir: Path,  # noqa: F811
) -> None:
    version = preference_version(dataset)
    job = create_finetune_job(
        version=version,
        provider="local",
        base_model=str(base_dir),
        method="dpo",
        hyperparameters={
            "n_epochs": 2,
            "batch_size": 4,
            "learning_rate": 0.01,
            "max_seq_length": 128,
            "lora_rank": 8,
            "lora_alpha": 16,
            "dpo_beta": 0.2,
        },
        seed=3,
        user=None,
        enqueue=False,
    )
    chain = hand_off(job)
    assert run_local_training_job(job_id=job.pk, chain=chain) == "succeeded"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.hyperparameters["dpo_beta"] == 0.2
    assert any("DPO with beta 0.2" in m for m in job.events.values_list("message", flat=True))
    assert job.metrics.filter(train_loss__isnull=False).count() == job.total > 0
    prefix = job.artifacts["adapter"]
    assert default_storage.exists(f"{prefix}/adapter_config.json")
