"""Together and Fireworks end to end: their real SDKs against the simulator's Together and
Fireworks shapes, driven through the same worker flow as OpenAI, with faults injected on
the job-create call (a 500, then a create whose reply is lost)."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.storage import default_storage

from curation.models import DatasetVersion, JobStatus, TrainingPrice
from tests.factories import built_version
from tests.training.conftest import FakeClock
from tests.training.test_preference_training import preference_version
from training.models import FineTuneJob
from training.services import (
    LaunchError,
    cancel_finetune,
    check_launch,
    create_finetune_job,
    drive_finetune,
    run_finetune_job,
)
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db

TOGETHER_MODEL = "meta-llama/Llama-3.2-3B-Instruct"
FIREWORKS_MODEL = "accounts/fireworks/models/llama-v3p2-3b-instruct"
MODELS = {"together": TOGETHER_MODEL, "fireworks": FIREWORKS_MODEL}


@pytest.fixture
def hosted(simulator: SimulatorServer, settings: Any, monkeypatch: Any) -> SimulatorServer:
    """Together and Fireworks with no keys: both go to the simulator under test."""
    for name in ("TOGETHER_API_KEY", "FIREWORKS_API_KEY", "FIREWORKS_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    settings.CURATOR_SIMULATOR_URL = simulator.base_url
    settings.CURATOR_SIMULATE_WITHOUT_KEYS = True
    settings.CURATOR_TRAINING_PROVIDERS = [
        {"name": "together", "kind": "together", "api_key_env": "TOGETHER_API_KEY", "timeout": 5},
        {
            "name": "fireworks",
            "kind": "fireworks",
            "api_key_env": "FIREWORKS_API_KEY",
            "timeout": 5,
        },
    ]
    settings.CURATOR_TRAINING_RETRY_SECONDS = 1.0
    return simulator


@pytest.fixture
def version(dataset: Any) -> DatasetVersion:
    return built_version(dataset, train=12, validation=3)


def listed(server: SimulatorServer) -> dict[str, list[dict[str, Any]]]:
    with urllib.request.urlopen(f"{server.url}/_simulator/jobs") as response:  # noqa: S310
        return json.loads(response.read())


def creates(server: SimulatorServer, provider: str) -> list[str]:
    return [
        outcome for name, outcome in server.state.request_log if name == f"{provider}:jobs.create"
    ]


@pytest.mark.parametrize("provider", ["together", "fireworks"])
def test_a_500_then_a_lost_reply_on_create_still_ends_with_exactly_one_remote_job(
    hosted: SimulatorServer, clock: FakeClock, version: DatasetVersion, provider: str
) -> None:
    hosted.set_faults("jobs.create=500,timeout")
    job = create_finetune_job(
        version=version, provider=provider, base_model=MODELS[provider], user=None, enqueue=False
    )

    job = drive_finetune(job_id=job.pk, sleep=clock.advance)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert creates(hosted, provider) == ["500", "timeout"]
    jobs = listed(hosted)
    assert len(jobs[provider]) == 1
    assert jobs["openai"] == []
    assert job.fine_tuned_model
    assert job.metrics.count() > 0


def test_together_adapter_lands_in_storage_beside_its_archive(
    hosted: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    job = create_finetune_job(
        version=version, provider="together", base_model=TOGETHER_MODEL, user=None, enqueue=False
    )

    job = drive_finetune(job_id=job.pk, sleep=clock.advance)

    prefix = job.artifacts["adapter"]
    config = json.loads(default_storage.open(f"{prefix}/adapter_config.json").read())
    assert config["base_model_name_or_path"] == TOGETHER_MODEL
    assert default_storage.exists(job.artifacts["archive"])


def test_fireworks_job_says_where_the_model_is_served(
    hosted: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    job = create_finetune_job(
        version=version, provider="fireworks", base_model=FIREWORKS_MODEL, user=None, enqueue=False
    )

    job = drive_finetune(job_id=job.pk, sleep=clock.advance)

    assert job.fine_tuned_model.startswith("accounts/curator-sim/models/")
    assert job.fine_tuned_model in job.artifacts["deployment"]
    assert "/inference/v1/chat/completions" in job.artifacts["deployment"]


@pytest.mark.parametrize("provider", ["together", "fireworks"])
def test_a_provider_without_a_key_is_labelled_simulated(
    hosted: SimulatorServer, version: DatasetVersion, provider: str
) -> None:
    job = create_finetune_job(
        version=version, provider=provider, base_model=MODELS[provider], user=None, enqueue=False
    )

    assert job.provider_is_simulator
    assert job.provider_label.endswith("(simulated)")


def test_the_launch_check_names_the_url_it_cannot_reach(
    hosted: SimulatorServer, version: DatasetVersion, settings: Any
) -> None:
    settings.CURATOR_SIMULATOR_URL = "http://127.0.0.1:9/v1"

    check = check_launch(version=version, provider="together", base_model=TOGETHER_MODEL)

    assert not check.ok
    assert any("http://127.0.0.1:9/together" in problem for problem in check.problems)


@pytest.mark.parametrize("provider", ["together", "fireworks"])
def test_a_cancel_stops_the_job_at_the_provider(
    hosted: SimulatorServer, version: DatasetVersion, provider: str
) -> None:
    job = create_finetune_job(
        version=version, provider=provider, base_model=MODELS[provider], user=None, enqueue=False
    )
    run_finetune_job(job_id=job.pk, schedule=lambda _job, _delay: None)
    job.refresh_from_db()

    done, _message = cancel_finetune(job=job, user=None)

    assert done
    assert listed(hosted)[provider][0]["status"] == "cancelled"
    assert Counter(n for n, _ in hosted.state.request_log)[f"{provider}:jobs.cancel"] == 1
    assert FineTuneJob.objects.get(pk=job.pk).status == JobStatus.CANCELLED


def test_a_model_together_does_not_fine_tune_is_refused_at_launch_in_its_words(
    hosted: SimulatorServer, version: DatasetVersion
) -> None:
    model = "meta-llama/Not-A-Model"
    TrainingPrice.objects.seeded()
    TrainingPrice.objects.create(
        provider="together", model=model, price_per_million=Decimal(1), token_limit=8192
    )
    # Together publishes each model's limits: the launch asks for them before creating.
    with pytest.raises(LaunchError, match=f"Model {model} is not available for fine-tuning"):
        create_finetune_job(
            version=version, provider="together", base_model=model, user=None, enqueue=False
        )
    assert listed(hosted)["together"] == []


@pytest.mark.parametrize(("provider", "model"), [("fireworks", "accounts/fireworks/models/nope")])
def test_a_model_the_provider_refuses_fails_with_the_providers_message(
    hosted: SimulatorServer, clock: FakeClock, version: DatasetVersion, provider: str, model: str
) -> None:
    TrainingPrice.objects.seeded()
    TrainingPrice.objects.create(
        provider=provider, model=model, price_per_million=Decimal(1), token_limit=8192
    )
    job = create_finetune_job(
        version=version, provider=provider, base_model=model, user=None, enqueue=False
    )

    job = drive_finetune(job_id=job.pk, sleep=clock.advance)

    assert job.status == JobStatus.FAILED
    assert f"Model {model} is not available for fine-tuning" in job.error
    assert listed(hosted)[provider] == []


@pytest.mark.parametrize("provider", ["together", "fireworks"])
def test_a_dpo_job_runs_on_the_providers_preference_endpoint(
    hosted: SimulatorServer, clock: FakeClock, version: DatasetVersion, provider: str
) -> None:
    job = create_finetune_job(
        version=preference_version(version.dataset),
        provider=provider,
        base_model=MODELS[provider],
        method="dpo",
        hyperparameters={"dpo_beta": 0.2, "lora_rank": 8},
        user=None,
        enqueue=False,
    )

    job = drive_finetune(job_id=job.pk, sleep=clock.advance)

    assert job.status == JobStatus.SUCCEEDED, job.error
    [remote] = hosted.state.shape_jobs(provider)
    if provider == "together":
        assert remote.extra["training_method"]["method"] == "dpo"
        assert remote.extra["training_method"]["dpo_beta"] == 0.2
    else:
        assert remote.extra["collection"] == "dpoJobs"
        assert job.remote_job_id.startswith("dpoJobs/")
    assert job.metrics.exists()
