"""``manage.py finetune``: the DESIGN.md contract (last line JSON, one-line reasons)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from curation.models import JobStatus, Role
from tests.factories import MembershipFactory, UserFactory, built_version, simulator_provider
from training.models import FineTuneJob
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def fast(settings: Any) -> Iterator[SimulatorServer]:
    """A simulator on the real clock, fast enough that a small job ends within a second,
    and polls every few hundredths of a second so --wait notices soon."""
    with SimulatorServer(port=0, speed=2000) as server:
        settings.CURATOR_TRAINING_PROVIDERS = [simulator_provider(server.base_url)]
        settings.CURATOR_TRAINING_POLL_SECONDS = 0.02
        settings.CURATOR_TRAINING_POLL_MAX_SECONDS = 0.1
        yield server


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("finetune", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_wait_json_prints_the_result_last(fast: SimulatorServer, dataset: Any) -> None:
    built_version(dataset)
    # `--as` acts with a dataset admin's permissions.
    MembershipFactory(dataset=dataset, user=UserFactory(username="ops"), role=Role.ADMIN)
    out, _ = run(
        "--dataset",
        dataset.slug,
        "--version",
        "1",
        "--provider",
        "simulator",
        "--model",
        MODEL,
        "--epochs",
        "2",
        "--as",
        "ops",
        "--wait",
        "--json",
    )
    summary = json.loads(out.strip().splitlines()[-1])
    job = FineTuneJob.objects.get()
    assert summary == {
        "job": job.pk,
        "status": "succeeded",
        "remote_job_id": job.remote_job_id,
        "fine_tuned_model": job.fine_tuned_model,
        "adapter": None,  # OpenAI keeps the trained weights
    }
    assert job.fine_tuned_model and job.created_by.username == "ops"
    assert job.hyperparameters["n_epochs"] == 2
    assert len(fast.state.jobs) == 1


def test_without_wait_it_queues(fast: SimulatorServer, dataset: Any) -> None:
    built_version(dataset)
    out, _ = run(
        "--dataset",
        dataset.slug,
        "--version",
        "1",
        "--provider",
        "simulator",
        "--model",
        MODEL,
        "--json",
    )
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == JobStatus.QUEUED and summary["remote_job_id"] == ""
    assert [
        e for e in fast.state.request_log if e[0] != "jobs.list"
    ] == []  # only the launch check\'s ping


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--version", "1", "--model", MODEL), "fine-tuning needs at least 10"),
        (("--version", "9", "--model", MODEL), "has no version 9"),
        (("--version", "1", "--model", "gpt-0"), "gpt-0 is not a base model"),
        (("--version", "1", "--model", MODEL, "--epochs", "many"), "epochs: expected 'auto'"),
    ],
)
def test_failures_are_one_line_reasons(
    fast: SimulatorServer, dataset: Any, args: tuple[str, ...], reason: str
) -> None:
    built_version(dataset, train=4, validation=1)
    with pytest.raises(CommandError) as caught:
        run("--dataset", dataset.slug, "--provider", "simulator", *args)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not FineTuneJob.objects.exists()


def test_a_failed_job_with_wait_exits_non_zero(fast: SimulatorServer, dataset: Any) -> None:
    built_version(dataset)
    fast.set_faults("jobs.create=429daily")
    with pytest.raises(SystemExit) as caught:
        run(
            "--dataset",
            dataset.slug,
            "--version",
            "1",
            "--provider",
            "simulator",
            "--model",
            MODEL,
            "--wait",
            "--json",
        )
    assert caught.value.code == 1
    assert FineTuneJob.objects.get().error_code == "daily_limit_exceeded"
