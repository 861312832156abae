"""Azure OpenAI is the openai provider at an Azure base URL with an api-key header: it
trains end to end against the simulator's Azure path, which refuses a bearer-only call."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from curation.models import JobStatus
from tests.factories import DEFAULT_MODELS, built_version
from tests.training.conftest import TEST_KEY, FakeClock
from training.services import create_finetune_job, drive_finetune
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def azure(simulator: SimulatorServer, settings: Any, monkeypatch: Any) -> SimulatorServer:
    monkeypatch.setenv("CURATOR_TEST_AZURE_KEY", TEST_KEY)
    settings.CURATOR_TRAINING_PROVIDERS = [
        {
            "name": "azure",
            "kind": "openai",
            "label": "Azure OpenAI",
            "base_url": simulator.url + "/openai/v1",
            "api_key_env": "CURATOR_TEST_AZURE_KEY",
            "azure": True,
            "models": DEFAULT_MODELS,
            "timeout": 5,
        }
    ]
    return simulator


def test_a_fine_tune_runs_end_to_end_on_azures_url_shape(
    azure: SimulatorServer, clock: FakeClock, dataset: Any
) -> None:
    job = create_finetune_job(
        version=built_version(dataset), provider="azure", base_model=MODEL, user=None, enqueue=False
    )

    job = drive_finetune(job_id=job.pk, sleep=clock.advance)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert not job.provider_is_simulator
    listed = azure.state.jobs_by_shape()
    # Azure's resource is an account of its own: OpenAI's path does not see its jobs.
    assert len(listed["azure"]) == 1 and listed["openai"] == []


def test_the_azure_path_wants_the_api_key_header(azure: SimulatorServer) -> None:
    bearer_only = openai.OpenAI(api_key=TEST_KEY, base_url=azure.url + "/openai/v1", max_retries=0)

    with pytest.raises(openai.AuthenticationError):
        bearer_only.fine_tuning.jobs.list()
