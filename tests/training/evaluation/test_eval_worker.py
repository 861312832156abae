"""Evaluation runs on a real RQ worker, resumption after a lost worker, retries on faults."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from curation.models import JobStatus
from tests.training.evaluation.conftest import BASE, JUDGE
from training.evaluation.models import EvalExample, EvalRun, ExampleStatus
from training.evaluation.services.runs import create_eval_run, run_eval_job


def chat_requests(sim: Any) -> int:
    return sum(1 for endpoint, _ in sim.state.request_log if endpoint == "chat.completions")


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_real_worker_runs_the_evaluation_on_the_eval_queue(
    sim: Any, dataset: Any, eval_version: Any, run_worker: Any, eval_queue: None
) -> None:
    run = create_eval_run(
        dataset=dataset, version=eval_version, model=f"openai:{BASE}", judge=JUDGE
    )
    run_worker("eval")
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.metrics["scored"] == 8 and run.metrics["judged"] == 8
    assert run.is_simulated and run.done == 8
    assert chat_requests(sim) == 16  # 8 replies and 8 judge scores, each asked once


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_run_whose_worker_died_resumes_without_generating_stored_examples_again(
    sim: Any, dataset: Any, eval_version: Any, run_worker: Any, eval_queue: None
) -> None:
    run = create_eval_run(
        dataset=dataset, version=eval_version, model=f"openai:{BASE}", enqueue=False
    )
    # What a worker killed half-way leaves: a running row and three stored outputs.
    assert run.claim()
    for position in range(3):
        EvalExample.objects.create(
            run=run,
            position=position,
            key=f"k{position}",
            status=ExampleStatus.OK,
            output={"role": "assistant", "content": "stored before the crash"},
            metrics={"exact_match": 0.0, "rouge_l": 0.0},
            latency_ms=1.0,
        )
    EvalRun.objects.filter(pk=run.pk).update(heartbeat_at=run.created_at.replace(year=2000))
    run.refresh_lost()
    assert run.status == JobStatus.FAILED and "worker lost" in run.error
    assert run.retry()
    run_worker("eval")
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert chat_requests(sim) == 5
    assert EvalExample.objects.filter(run=run).count() == 8
    assert (
        EvalExample.objects.filter(run=run, output__content="stored before the crash").count() == 3
    )


@pytest.mark.django_db
def test_rate_limits_server_errors_and_dropped_replies_are_retried(
    sim: Any, dataset: Any, eval_version: Any
) -> None:
    sim.set_faults("chat.completions=429,500,503,timeout")
    run = create_eval_run(
        dataset=dataset,
        version=eval_version,
        model=f"openai:{BASE}",
        concurrency=1,
        enqueue=False,
    )
    run = run_eval_job(run_id=run.pk)
    assert run.status == JobStatus.SUCCEEDED
    assert run.metrics["scored"] == 8 and run.metrics["failed"] == 0
    assert EvalExample.objects.get(run=run, position=0).attempts == 5


@pytest.mark.django_db
def test_examples_the_model_refuses_are_marked_failed_with_the_reason(
    sim: Any, dataset: Any, eval_version: Any
) -> None:
    sim.set_faults("chat.completions=400,400")
    run = create_eval_run(
        dataset=dataset,
        version=eval_version,
        model=f"openai:{BASE}",
        concurrency=1,
        enqueue=False,
    )
    run = run_eval_job(run_id=run.pk)
    assert run.status == JobStatus.SUCCEEDED
    assert run.metrics["scored"] == 6 and run.metrics["failed"] == 2
    failed = EvalExample.objects.filter(run=run, status=ExampleStatus.FAILED)
    assert all("HTTP 400" in row.error for row in failed)


@pytest.mark.django_db
def test_an_endpoint_that_is_down_fails_the_run_naming_its_url(
    settings: Any, dataset: Any, eval_version: Any
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    settings.CURATOR_EVAL_ENDPOINTS = [{"name": "vllm", "base_url": url, "model": "llama"}]
    settings.CURATOR_EVAL_RETRY_SECONDS = 0.01
    run = create_eval_run(dataset=dataset, version=eval_version, model="vllm", enqueue=False)
    run = run_eval_job(run_id=run.pk)
    assert run.status == JobStatus.FAILED
    assert f"cannot reach {url}" in run.error
    assert not EvalExample.objects.filter(run=run).exists()


@pytest.mark.django_db(transaction=True)
def test_a_long_local_step_keeps_the_run_alive(dataset: Any, eval_version: Any) -> None:
    from tests.training.conftest import wait_until
    from training.evaluation.services.runs import beating

    run = create_eval_run(dataset=dataset, version=eval_version, model="local:tiny", enqueue=False)
    assert run.claim()
    EvalRun.objects.filter(pk=run.pk).update(heartbeat_at=run.created_at.replace(year=2000))
    with beating(run, every=0.01):
        wait_until(lambda: EvalRun.objects.get(pk=run.pk).heartbeat_at.year > 2000, timeout=30)
    run.refresh_lost()
    assert run.status == JobStatus.RUNNING
