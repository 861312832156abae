"""A fine-tune run by real RQ burst workers with the scheduler, against a live simulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from curation.models import JobStatus
from tests.factories import built_version
from training.models import FineTuneJob
from training.providers import available_providers
from training.services import create_finetune_job
from training.simulator import SimulatorServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def live_simulator(settings: Any, monkeypatch: Any) -> Iterator[SimulatorServer]:
    """The simulator on a free port, as the default provider here and in the worker process
    (which reads CURATOR_SIMULATOR_URL from its environment)."""
    with SimulatorServer(port=0, speed=20) as server:
        for name in ("OPENAI_API_KEY", "TOGETHER_API_KEY", "FIREWORKS_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("CURATOR_SIMULATOR_URL", server.base_url)
        settings.CURATOR_SIMULATOR_URL = server.base_url
        yield server


def test_a_real_worker_runs_the_job_to_success(
    live_simulator: SimulatorServer, dataset: Any, run_worker: Any
) -> None:
    # Simulated seconds run 20 times faster: the job takes about 1.5 s of real time, so it
    # is still running when the first worker run schedules its poll.
    # No keys: every hosted provider goes to the simulator.
    configs = available_providers()
    assert [c.name for c in configs] == ["openai", "together", "fireworks"]
    assert all(c.is_simulator for c in configs)
    job = create_finetune_job(
        version=built_version(dataset),
        provider="openai",
        base_model="gpt-4.1-mini-2025-04-14",
        hyperparameters={"n_epochs": 1},
        user=None,
    )
    runs = 0
    deadline = time.monotonic() + 240  # guards against a hang only
    while True:
        run_worker("training", "--with-scheduler")
        runs += 1
        job.refresh_from_db()
        if not job.is_active or time.monotonic() > deadline:
            break
        # Between runs the job waits for its scheduled poll; come back when it is due.
        if job.next_check_at:
            time.sleep(max(0.0, (job.next_check_at - timezone.now()).total_seconds()) + 0.2)
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.last_problem)
    assert runs >= 2  # the first run only got as far as scheduling a poll
    assert job.fine_tuned_model.startswith("ft:gpt-4.1-mini-2025-04-14:")
    assert len(live_simulator.state.jobs) == 1
    assert job.events.exists() and job.metrics.exists()
    assert FineTuneJob.objects.get(pk=job.pk).attempts == 1
