"""/webhooks/openai/: signed deliveries refresh the job from the provider; others are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from curation.models import JobStatus
from tests.factories import FineTuneJobFactory, built_version, simulator_provider
from tests.training.conftest import FakeClock, wait_until
from training.models import FineTuneJob
from training.services import create_finetune_job, run_finetune_job
from training.simulator import SimulatorServer, generate_secret
from training.simulator.webhooks import signed_headers

pytestmark = pytest.mark.django_db

SECRET = generate_secret()


@pytest.fixture
def sim(simulator: SimulatorServer, settings: Any) -> SimulatorServer:
    settings.OPENAI_WEBHOOK_SECRET = SECRET
    settings.CURATOR_TRAINING_PROVIDERS = [simulator_provider(simulator.base_url)]
    return simulator


def start_job(dataset: Any) -> FineTuneJob:
    """A one-epoch job on the simulator, its remote job created; no poll is scheduled."""
    job = create_finetune_job(
        version=built_version(dataset),
        provider="simulator",
        base_model="gpt-4.1-mini-2025-04-14",
        hyperparameters={"n_epochs": 1},
        user=None,
        enqueue=False,
    )
    run_finetune_job(job_id=job.pk, schedule=lambda *_: None)
    job.refresh_from_db()
    return job


@pytest.fixture
def started(sim: SimulatorServer, dataset: Any) -> FineTuneJob:
    """A job whose remote job exists and is still validating (its next poll is far off)."""
    job = start_job(dataset)
    assert job.status == JobStatus.RUNNING and job.remote_job_id
    return job


def delivery(remote_id: str, *, event: str = "fine_tuning.job.succeeded") -> bytes:
    return json.dumps(
        {
            "object": "event",
            "id": "evt_test",
            "type": event,
            "created_at": 1,
            "data": {"id": remote_id},
        }
    ).encode()


def post(payload: bytes, headers: dict[str, str]) -> Any:
    # CSRF checks on, no login: the endpoint must not need either.
    client = Client(enforce_csrf_checks=True)
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    return client.post(
        reverse("openai_webhook"), data=payload, content_type="application/json", **extra
    )


def test_signed_webhook_refreshes_the_job(started: FineTuneJob, clock: FakeClock) -> None:
    clock.advance(3600)  # the simulated job has long finished
    payload = delivery(started.remote_job_id)
    response = post(payload, signed_headers(secret=SECRET, payload=payload))
    assert response.status_code == 200, response.content
    started.refresh_from_db()
    assert started.status == JobStatus.SUCCEEDED
    assert started.remote_status == "succeeded"
    assert started.fine_tuned_model.startswith("ft:")
    assert started.events.filter(message__contains="successfully completed").exists()
    assert started.metrics.filter(source="result").exists()

    # A redelivery changes nothing and stores nothing twice.
    events = started.events.count()
    again = post(payload, signed_headers(secret=SECRET, payload=payload))
    assert again.status_code == 200
    assert started.events.count() == events


def test_bad_signature_is_rejected(started: FineTuneJob, clock: FakeClock) -> None:
    clock.advance(3600)
    payload = delivery(started.remote_job_id)
    wrong = signed_headers(secret=generate_secret(), payload=payload)
    assert post(payload, wrong).status_code == 400
    tampered = payload.replace(b"succeeded", b"cancelled")
    assert post(tampered, signed_headers(secret=SECRET, payload=payload)).status_code == 400
    assert post(payload, {}).status_code == 400  # no signature headers at all
    started.refresh_from_db()
    assert started.status == JobStatus.RUNNING and started.remote_status == "validating_files"


def test_webhook_without_a_configured_secret_is_rejected(
    started: FineTuneJob, settings: Any
) -> None:
    settings.OPENAI_WEBHOOK_SECRET = ""
    payload = delivery(started.remote_job_id)
    response = post(payload, signed_headers(secret=SECRET, payload=payload))
    assert response.status_code == 400
    assert "OPENAI_WEBHOOK_SECRET" in response.json()["error"]


def test_webhook_for_an_unknown_job_or_event_is_acknowledged(
    sim: SimulatorServer, dataset: Any
) -> None:
    FineTuneJobFactory(dataset=dataset, remote_job_id="ftjob-mine", status=JobStatus.SUCCEEDED)
    for payload in (delivery("ftjob-someone-else"), delivery("x", event="batch.completed")):
        response = post(payload, signed_headers(secret=SECRET, payload=payload))
        assert response.status_code == 200
        assert response.json()["outcome"].startswith("ignored")
    assert sim.state.request_log == []


def test_webhook_only_accepts_post(sim: SimulatorServer) -> None:
    assert Client().get(reverse("openai_webhook")).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_simulator_delivers_a_signed_webhook_to_the_running_app(
    clock: FakeClock, dataset: Any, settings: Any, live_server: Any
) -> None:
    """The simulator posts its own signed delivery to the live app when the job ends."""
    url = live_server.url + reverse("openai_webhook")
    with SimulatorServer(clock=clock, webhook_url=url, webhook_secret=SECRET) as server:
        settings.OPENAI_WEBHOOK_SECRET = SECRET
        settings.CURATOR_TRAINING_PROVIDERS = [simulator_provider(server.base_url)]
        job = start_job(dataset)
        clock.advance(3600)
        assert server.webhooks is not None
        wait_until(lambda: server.webhooks.deliveries and server.webhooks.wait_idle())
        [sent] = server.webhooks.deliveries
        assert sent.delivered, sent.error or sent.status
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.fine_tuned_model
