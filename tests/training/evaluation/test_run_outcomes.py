"""Runs end honestly: failed when no example got an answer, partial when some failed, with
the first error and the counts on the page, the API and ``evaluate --json``."""

from __future__ import annotations

from typing import Any

import pytest

from curation.models import JobStatus
from tests.training.evaluation.conftest import BASE
from training.evaluation.services.runs import cli_summary, create_eval_run, run_eval_job

pytestmark = pytest.mark.django_db


def run_with_faults(sim: Any, dataset: Any, eval_version: Any, faults: str) -> Any:
    sim.set_faults(faults)
    run = create_eval_run(
        dataset=dataset, version=eval_version, model=f"openai:{BASE}", concurrency=1, enqueue=False
    )
    return run_eval_job(run_id=run.pk)


def test_a_run_whose_every_call_is_refused_ends_failed_with_the_first_error(
    sim: Any, dataset: Any, eval_version: Any
) -> None:
    run = run_with_faults(sim, dataset, eval_version, "chat.completions=" + ",".join(["400"] * 8))
    assert run.status == JobStatus.FAILED and run.outcome == "failed"
    assert "no example got an answer: all 8 failed" in run.error
    assert "example 0: " in run.error and "HTTP 400" in run.error
    summary = cli_summary(run)
    assert summary["status"] == "failed" and summary["scored"] == 0 and summary["failed"] == 8


def test_a_run_whose_every_call_answers_500_ends_failed(
    sim: Any, settings: Any, dataset: Any, eval_version: Any
) -> None:
    settings.CURATOR_EVAL_RETRY_SECONDS = 0.001
    run = run_with_faults(sim, dataset, eval_version, "chat.completions=" + ",".join(["500"] * 60))
    assert run.status == JobStatus.FAILED
    assert "500" in run.error


def test_a_run_with_some_failed_examples_is_partial_everywhere(
    sim: Any, dataset: Any, eval_version: Any, client: Any, admin_user: Any
) -> None:
    run = run_with_faults(sim, dataset, eval_version, "chat.completions=400,400")
    assert run.status == JobStatus.SUCCEEDED and run.outcome == "partial"
    summary = cli_summary(run)
    assert summary["outcome"] == "partial" and summary["failed"] == 2
    assert summary["first_error"].startswith("example 0: ") and "HTTP 400" in summary["first_error"]
    client.force_login(admin_user)
    page = client.get(run.get_absolute_url()).content.decode()
    assert "Partial:" in page and "2 of 8 examples failed" in page
    assert "count as this model's losses" in page
