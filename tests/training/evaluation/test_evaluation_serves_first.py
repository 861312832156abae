"""Evaluating a Together, Fireworks or Azure fine-tune first makes it answer, in the worker:
Curator deploys it where it may and waits; where it cannot, the run ends failed saying which
deployment to create or which setting to turn on, having sent no example. Also
``manage.py serve``, the command line of the job page's "Deploy and check it answers"."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from curation.models import DatasetVersion, JobStatus
from tests.factories import azure_on_simulator, simulator_provider
from tests.training.evaluation.conftest import trained
from tests.training.evaluation.test_paid_deployments import FIREWORKS_BASE, TOGETHER_BASE, paid
from training.evaluation.models import EvalExample
from training.evaluation.services.runs import create_eval_run, run_eval_job
from training.simulator import SimulatorServer
from training.simulator.serving import deployments

pytestmark = pytest.mark.django_db

__all__ = ["paid"]  # a fixture, used by name
AZURE_BASE = "gpt-4o-mini-2024-07-18"


def evaluate_and_wait(dataset: Any, job: Any) -> tuple[int, str, dict[str, Any]]:
    """``manage.py evaluate --model job:ID --wait --json``: exit status, stderr, JSON."""
    out, err = io.StringIO(), io.StringIO()
    status = 0
    try:
        call_command(
            "evaluate",
            "--dataset",
            dataset.slug,
            "--version",
            "1",
            "--model",
            f"job:{job.pk}",
            "--wait",
            "--json",
            stdout=out,
            stderr=err,
        )
    except SystemExit as exit:
        status = int(exit.code or 0)
    return status, err.getvalue(), json.loads(out.getvalue().strip().splitlines()[-1])


def chats_to(server: SimulatorServer, provider: str) -> int:
    return sum(1 for e, _ in server.state.request_log if e == f"{provider}:chat.completions")


@pytest.mark.parametrize(
    ("provider", "base", "to_create"),
    [
        ("together", TOGETHER_BASE, "together endpoints create --model {model}"),
        ("fireworks", FIREWORKS_BASE, "firectl create deployment {model}"),
    ],
)
def test_with_paid_deployments_off_the_run_fails_naming_the_deployment_and_sends_no_example(
    paid: SimulatorServer,
    settings: Any,
    dataset: Any,
    text_version: DatasetVersion,
    provider: str,
    base: str,
    to_create: str,
) -> None:
    settings.CURATOR_ALLOW_PAID_DEPLOYMENTS = False
    job = trained(text_version, provider, base)
    before = chats_to(paid, provider)

    status, stderr, result = evaluate_and_wait(dataset, job)

    assert status == 1 and result["status"] == JobStatus.FAILED
    error = result["error"]
    assert to_create.format(model=job.fine_tuned_model) in error
    assert "CURATOR_ALLOW_PAID_DEPLOYMENTS" in error
    assert "no example was sent" in error and error.splitlines()[0] in stderr
    # One chat request: the check that it answers; none per example.
    assert chats_to(paid, provider) - before == 1
    assert not EvalExample.objects.filter(run_id=result["run"]).exists()
    assert deployments(paid.state, provider) == {}


def test_a_deployment_still_coming_up_after_the_wait_fails_the_run_and_retry_reuses_it(
    paid: SimulatorServer, settings: Any, dataset: Any, text_version: DatasetVersion
) -> None:
    job = trained(text_version, "fireworks", FIREWORKS_BASE)
    settings.CURATOR_SERVING_WAIT_SECONDS = 0
    run = create_eval_run(
        dataset=dataset, version=text_version, model=f"job:{job.pk}", enqueue=False
    )

    run = run_eval_job(run_id=run.pk)

    assert run.status == JobStatus.FAILED
    assert "still deploying after 0s" in run.error
    assert f"deployment 'curator-{job.pk}'" in run.error
    assert "CURATOR_SERVING_WAIT_SECONDS" in run.error
    assert not EvalExample.objects.filter(run=run).exists()

    settings.CURATOR_SERVING_WAIT_SECONDS = 30
    assert run.retry()
    run = run_eval_job(run_id=run.pk)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.metrics["scored"] == 6
    assert list(deployments(paid.state, "fireworks")) == [f"curator-{job.pk}"]


@pytest.fixture
def azure_by_hand(settings: Any, monkeypatch: Any) -> Iterator[SimulatorServer]:
    """Azure on the simulator without the control-plane settings: deployments by hand."""
    with SimulatorServer(port=0, speed=2000) as server:
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "sk-azure-fake")
        settings.CURATOR_SIMULATOR_URL = server.base_url
        settings.CURATOR_TRAINING_PROVIDERS = [
            simulator_provider(server.base_url, name="openai"),
            azure_on_simulator(server.base_url, control_plane=False),
        ]
        settings.CURATOR_TRAINING_POLL_SECONDS = 0.02
        settings.CURATOR_TRAINING_POLL_MAX_SECONDS = 0.1
        settings.CURATOR_EVAL_TIMEOUT = 5
        yield server


def test_azure_without_control_plane_rights_fails_naming_the_deployment_and_the_settings(
    azure_by_hand: SimulatorServer, dataset: Any, text_version: DatasetVersion
) -> None:
    job = trained(text_version, "azure", AZURE_BASE)

    status, _, result = evaluate_and_wait(dataset, job)

    assert status == 1
    error = result["error"]
    name = f"curator-{job.remote_job_id.removeprefix('ftjob-')}"
    assert f"create the deployment {name!r} of the fine-tuned model {job.fine_tuned_model}" in (
        error
    )
    assert "AZURE_SUBSCRIPTION_ID" in error and "AZURE_MANAGEMENT_TOKEN" in error
    assert chats_to(azure_by_hand, "azure") == 1
    assert deployments(azure_by_hand.state, "azure") == {}


# -- manage.py serve -------------------------------------------------------------------------


def serve(dataset: Any, job: Any, *flags: str) -> tuple[dict[str, Any], str | None]:
    """``manage.py serve --json``: its last JSON line, and its one-line reason if it failed."""
    out = io.StringIO()
    reason = None
    try:
        call_command(
            "serve", "--dataset", dataset.slug, "--job", str(job.pk), "--json", *flags, stdout=out
        )
    except CommandError as error:
        reason = str(error)
    return json.loads(out.getvalue().strip().splitlines()[-1]), reason


def test_serve_deploys_waits_until_it_answers_and_undeploy_removes_it(
    paid: SimulatorServer, dataset: Any, text_version: DatasetVersion, admin_user: Any
) -> None:
    job = trained(text_version, "together", TOGETHER_BASE)

    served, failed = serve(dataset, job, "--wait", "--as", admin_user.username)

    assert failed is None
    assert served["state"] == "answering" and served["deployment"]
    (made,) = deployments(paid.state, "together").values()
    assert made.model == job.fine_tuned_model and not made.deleted

    removed, failed = serve(dataset, job, "--undeploy")

    assert failed is None
    assert removed["state"] == "not_deployed" and removed["deployment"] is None
    assert made.deleted


def test_serve_exits_non_zero_saying_what_to_create_when_paid_deployments_are_off(
    paid: SimulatorServer, settings: Any, dataset: Any, text_version: DatasetVersion
) -> None:
    settings.CURATOR_ALLOW_PAID_DEPLOYMENTS = False
    job = trained(text_version, "fireworks", FIREWORKS_BASE)

    served, failed = serve(dataset, job)

    assert failed is not None and f"firectl create deployment {job.fine_tuned_model}" in failed
    assert served["state"] == "not_deployed"
    assert deployments(paid.state, "fireworks") == {}


def test_serve_refuses_a_reviewer_and_a_job_of_another_dataset(
    paid: SimulatorServer, dataset: Any, text_version: DatasetVersion, reviewer: Any
) -> None:
    job = trained(text_version, "together", TOGETHER_BASE)

    with pytest.raises(CommandError, match="reviewer is not an admin of support"):
        call_command("serve", "--dataset", dataset.slug, "--job", str(job.pk), "--as", "reviewer")
    with pytest.raises(CommandError, match=f"no fine-tune job {job.pk + 1} in support"):
        call_command("serve", "--dataset", dataset.slug, "--job", str(job.pk + 1))
    assert deployments(paid.state, "together") == {}
