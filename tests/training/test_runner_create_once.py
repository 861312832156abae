"""create_remote_job under the row lock: a worker holding an out-of-date copy of the row never
creates a second remote job, and a job cancelled before its remote job exists sends no create.

Hand mutation of training/services/runner.py showed both guards unguarded by the flow tests
(docs/development.md, "Mutation testing"): the flow never reaches them, because the worker
checks the same things before it takes the lock.
"""

from __future__ import annotations

from typing import Any

import pytest

from curation.models import DatasetVersion, JobStatus
from tests.factories import built_version, simulator_provider
from training.models import FineTuneJob
from training.providers import get_provider
from training.services import cancel_finetune, create_finetune_job
from training.services.runner import create_remote_job, upload_files
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(simulator: SimulatorServer, settings: Any) -> SimulatorServer:
    settings.CURATOR_TRAINING_PROVIDERS = [simulator_provider(simulator.base_url)]
    return simulator


@pytest.fixture
def uploaded(sim: SimulatorServer, dataset: Any) -> FineTuneJob:
    """A running job whose files are at the provider and whose remote job is not created yet."""
    version: DatasetVersion = built_version(dataset, train=12, validation=3)
    job = create_finetune_job(
        version=version,
        user=None,
        enqueue=False,
        provider="simulator",
        base_model="gpt-4.1-mini-2025-04-14",
    )
    assert job.claim()
    job.beat(chain="c1")
    upload_files(job=job, provider=get_provider("simulator"))
    return job


def test_a_worker_with_an_out_of_date_row_takes_the_stored_remote_id_and_sends_nothing(
    sim: SimulatorServer, uploaded: FineTuneJob
) -> None:
    stale = FineTuneJob.objects.get(pk=uploaded.pk)  # a second worker's copy, read before
    provider = get_provider("simulator")
    assert create_remote_job(job=uploaded, provider=provider)
    requests_before = len(sim.state.request_log)

    assert create_remote_job(job=stale, provider=provider)

    assert stale.remote_job_id == uploaded.remote_job_id != ""
    assert len(sim.state.request_log) == requests_before
    assert len(sim.state.jobs) == 1


def test_a_job_cancelled_before_its_remote_job_exists_is_not_created(
    sim: SimulatorServer, uploaded: FineTuneJob, admin_user: Any
) -> None:
    done, _ = cancel_finetune(job=FineTuneJob.objects.get(pk=uploaded.pk), user=admin_user)
    assert done

    # The worker's copy still says running: the lock's fresh read must win.
    assert uploaded.status == JobStatus.RUNNING
    assert create_remote_job(job=uploaded, provider=get_provider("simulator")) is False

    assert sim.state.jobs == []
    assert not FineTuneJob.objects.get(pk=uploaded.pk).remote_job_id
