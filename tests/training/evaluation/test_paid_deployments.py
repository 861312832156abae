"""Fine-tunes that answer only on a deployment billed by the hour (a Together LoRA of a base
without serverless LoRA, any Fireworks fine-tune): with the opt-in on, Curator creates the
deployment itself through the vendor's API, waits until it answers, evaluates it and removes
it afterwards; with the opt-in off, nothing is created and the job page names what to create.
All on the simulator, which serves each vendor's API under its own prefix and logs which
vendor's path every request took."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from curation.models import DatasetVersion
from tests.factories import simulator_provider
from tests.training.evaluation.conftest import JUDGE, trained
from training.services.serving import serving_deploy
from training.simulator import SimulatorServer
from training.simulator.serving import deployments

pytestmark = pytest.mark.django_db

TOGETHER_BASE = "meta-llama/Llama-3.2-3B-Instruct"  # no serverless LoRA on Together
FIREWORKS_BASE = "accounts/fireworks/models/llama-v3p2-3b-instruct"
SHAPES = ("together", "fireworks", "azure")


@pytest.fixture
def paid(settings: Any, monkeypatch: Any) -> Iterator[SimulatorServer]:
    """Together and Fireworks without keys (so simulated), the simulator's OpenAI shape for
    the judge, deployments allowed and removed after evaluation."""
    with SimulatorServer(port=0, speed=2000) as server:
        for name in ("OPENAI_API_KEY", "TOGETHER_API_KEY", "FIREWORKS_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv("FIREWORKS_ACCOUNT_ID", raising=False)
        monkeypatch.setenv("CURATOR_SIMULATOR_URL", server.base_url)
        settings.CURATOR_SIMULATOR_URL = server.base_url
        settings.CURATOR_TRAINING_PROVIDERS = [
            simulator_provider(server.base_url, name="openai"),
            {"name": "together", "kind": "together", "api_key_env": "TOGETHER_API_KEY"},
            {"name": "fireworks", "kind": "fireworks", "api_key_env": "FIREWORKS_API_KEY"},
        ]
        settings.CURATOR_ALLOW_PAID_DEPLOYMENTS = True
        settings.CURATOR_UNDEPLOY_AFTER_EVALUATION = True
        settings.CURATOR_SERVING_POLL_SECONDS = 0.02
        settings.CURATOR_TRAINING_POLL_SECONDS = 0.02
        settings.CURATOR_TRAINING_POLL_MAX_SECONDS = 0.1
        settings.CURATOR_EVAL_RETRY_SECONDS = 0.01
        settings.CURATOR_EVAL_TIMEOUT = 5
        yield server


def evaluate(dataset: Any, job: Any) -> dict[str, Any]:
    out = io.StringIO()
    call_command(
        "evaluate",
        "--dataset",
        dataset.slug,
        "--version",
        "1",
        "--model",
        f"job:{job.pk}",
        "--judge",
        JUDGE,
        "--wait",
        "--json",
        stdout=out,
        stderr=io.StringIO(),
    )
    return json.loads(out.getvalue().strip().splitlines()[-1])


def shapes_asked(server: SimulatorServer) -> set[str]:
    """The vendor prefixes of the requests the simulator saw (the OpenAI shape has none)."""
    return {
        endpoint.split(":", 1)[0]
        for endpoint, _ in server.state.request_log
        if endpoint.split(":", 1)[0] in SHAPES
    }


@pytest.mark.parametrize(
    ("provider", "base"), [("together", TOGETHER_BASE), ("fireworks", FIREWORKS_BASE)]
)
def test_curator_deploys_waits_evaluates_and_removes_the_deployment(
    paid: SimulatorServer,
    dataset: Any,
    text_version: DatasetVersion,
    provider: str,
    base: str,
) -> None:
    job = trained(text_version, provider, base)

    entry = serving_deploy(job=job, user=None, wait=30)

    assert entry["state"] == "answering", entry["detail"]
    assert entry["deployment"]
    assert "billed" in entry["detail"]
    if provider == "together":
        # The simulator lists 1x H100 at 5.55 cents a minute: $3.33 an hour.
        assert "$3.33/hour" in entry["detail"]
    made = [
        r for r in deployments(paid.state, provider).values() if r.model == job.fine_tuned_model
    ]
    assert len(made) == 1 and not made[0].deleted
    # Checking again finds the same deployment; it never starts a second one.
    again = serving_deploy(job=job, user=None)
    assert again["deployment"] == entry["deployment"]
    assert len(deployments(paid.state, provider)) == 1

    result = evaluate(dataset, job)

    assert result["status"] == "succeeded" and result["examples"] == 6
    job.refresh_from_db()
    assert job.artifacts["serving"]["deployment"] == ""
    assert made[0].deleted
    assert shapes_asked(paid) == {provider}
    chats = [e for e, outcome in paid.state.request_log if e == f"{provider}:chat.completions"]
    assert len(chats) >= 6


@pytest.mark.parametrize(
    ("provider", "base"), [("together", TOGETHER_BASE), ("fireworks", FIREWORKS_BASE)]
)
def test_with_paid_deployments_off_nothing_is_created_and_the_page_says_what_to_create(
    paid: SimulatorServer,
    settings: Any,
    dataset: Any,
    admin_user: Any,
    text_version: DatasetVersion,
    provider: str,
    base: str,
) -> None:
    settings.CURATOR_ALLOW_PAID_DEPLOYMENTS = False
    job = trained(text_version, provider, base)
    client = Client()
    client.force_login(admin_user)

    page = client.post(
        reverse("finetune_serve", args=[dataset.slug, job.pk]), follow=True
    ).content.decode()

    assert deployments(paid.state, provider) == {}
    job.refresh_from_db()
    assert job.artifacts["serving"]["state"] == "not_deployed"
    assert job.artifacts["serving"]["deployment"] == ""
    command = "together endpoints create" if provider == "together" else "firectl create deployment"
    assert f"{command} {'--model ' if provider == 'together' else ''}{job.fine_tuned_model}" in page
    assert "CURATOR_ALLOW_PAID_DEPLOYMENTS" in page
    assert shapes_asked(paid) == {provider}


def test_a_together_lora_of_a_serverless_base_needs_no_endpoint_even_when_allowed(
    paid: SimulatorServer, text_version: DatasetVersion
) -> None:
    job = trained(text_version, "together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")

    entry = serving_deploy(job=job, user=None, wait=30)

    assert entry["state"] == "answering" and entry["model"] == job.fine_tuned_model
    assert entry["deployment"] == ""
    assert deployments(paid.state, "together") == {}
