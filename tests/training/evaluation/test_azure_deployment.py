"""An Azure fine-tune on the simulator is deployed by Curator through the control plane at the
configured management URL (the simulator's /azure-management), waited for until it answers,
evaluated through its deployment and removed afterwards; the management token goes to the
control plane only, and nothing is asked of another provider's API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from curation.models import DatasetVersion
from tests.factories import azure_on_simulator, simulator_provider
from tests.training.evaluation.conftest import trained
from tests.training.evaluation.test_paid_deployments import evaluate, shapes_asked
from training.services.serving import serving_deploy
from training.simulator import SimulatorServer
from training.simulator.serving import deployments

pytestmark = pytest.mark.django_db

BASE = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def azure(settings: Any, monkeypatch: Any) -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, speed=2000) as server:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "sk-azure-fake")
        monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "arm-token-fake")
        settings.CURATOR_SIMULATOR_URL = server.base_url
        settings.CURATOR_TRAINING_PROVIDERS = [
            simulator_provider(server.base_url, name="openai"),
            azure_on_simulator(server.base_url),
        ]
        settings.CURATOR_UNDEPLOY_AFTER_EVALUATION = True
        settings.CURATOR_SERVING_POLL_SECONDS = 0.02
        settings.CURATOR_TRAINING_POLL_SECONDS = 0.02
        settings.CURATOR_TRAINING_POLL_MAX_SECONDS = 0.1
        settings.CURATOR_EVAL_RETRY_SECONDS = 0.01
        settings.CURATOR_EVAL_TIMEOUT = 5
        yield server


def test_curator_deploys_an_azure_fine_tune_on_the_configured_control_plane_and_evaluates_it(
    azure: SimulatorServer, dataset: Any, text_version: DatasetVersion
) -> None:
    job = trained(text_version, "azure", BASE)

    entry = serving_deploy(job=job, user=None, wait=30)

    assert entry["state"] == "answering", entry["detail"]
    (made,) = deployments(azure.state, "azure").values()
    assert made.model == job.fine_tuned_model and entry["deployment"] in made.id

    result = evaluate(dataset, job)

    assert result["status"] == "succeeded" and result["examples"] == 6
    job.refresh_from_db()
    assert job.artifacts["serving"]["deployment"] == "" and made.deleted
    assert shapes_asked(azure) == {"azure"}
    # One PUT: checking again while it came up only looked at it; one DELETE after evaluation.
    asked = [endpoint for endpoint, _ in azure.state.request_log]
    assert asked.count("azure:deployments.create") == 1
    assert asked.count("azure:deployments.delete") == 1
