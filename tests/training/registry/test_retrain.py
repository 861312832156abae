"""Retraining on the simulator: a version from everything approved, a fine-tune like an
earlier job, an evaluation of the new model and of production, and their comparison —
here with --wait, and on real workers with the scheduler."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from django.core.management import call_command

from curation.models import ConversationStatus, JobStatus
from tests.factories import ConversationFactory, chat
from training.evaluation.models import Comparison
from training.models import FineTuneJob
from training.registry.promotion import promote_model
from training.registry.retrain import create_retrain
from training.registry.services import resolve_model
from training.registry.stages import RetrainRun, RetrainStep

JUDGE = "openai:gpt-4o-mini-2024-07-18"


def approve_conversations(dataset: Any, count: int = 24) -> None:
    for n in range(count):
        ConversationFactory(
            dataset=dataset,
            status=ConversationStatus.APPROVED,
            original=chat(
                user=f"What is the total of invoice {n + 500}?",
                assistant=f"Invoice {n + 500} totals {(n + 500) * 10} euros.",
                system="You answer questions about invoices.",
            ),
            content_hash=f"{n + 1:064x}",
        )


@pytest.mark.django_db
def test_retrain_wait_runs_every_step_and_compares_with_production(
    sim, finetune, dataset, settings
):
    # Splits hash the ids: 30 % makes an empty validation split (0.7^24) all but impossible.
    settings.CURATOR_VALIDATION_FRACTION = 0.3
    approve_conversations(dataset)
    promote_model(
        dataset=dataset, model=resolve_model(f"job:{finetune.pk}", dataset=dataset), user=None
    )
    out = io.StringIO()
    call_command(
        "retrain",
        "--dataset",
        dataset.slug,
        "--like",
        str(finetune.pk),
        "--judge",
        JUDGE,
        "--wait",
        "--json",
        stdout=out,
        stderr=io.StringIO(),
    )
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["status"] == "succeeded", summary
    assert summary["step"] == RetrainStep.DONE
    assert summary["version"] == finetune.version.number + 1
    new_job = FineTuneJob.objects.get(pk=summary["job"])
    assert new_job.pk != finetune.pk
    assert (new_job.provider, new_job.base_model) == (finetune.provider, finetune.base_model)
    assert new_job.hyperparameters == finetune.hyperparameters
    comparison = Comparison.objects.get(pk=summary["comparison"])
    assert comparison.status == JobStatus.SUCCEEDED
    assert comparison.run_a.model == resolve_model(f"job:{finetune.pk}", dataset=dataset)
    assert comparison.run_b.model == resolve_model(f"job:{new_job.pk}", dataset=dataset)
    assert comparison.run_a.version_id == comparison.run_b.version_id


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_retrain_on_real_workers_shows_each_step_as_a_job(
    sim, finetune, dataset, run_worker, monkeypatch, settings
):
    monkeypatch.setenv("CURATOR_RETRAIN_POLL_SECONDS", "0.3")
    monkeypatch.setenv("CURATOR_TRAINING_POLL_SECONDS", "0.05")
    monkeypatch.setenv("CURATOR_TRAINING_POLL_MAX_SECONDS", "0.2")
    settings.CURATOR_RETRAIN_POLL_SECONDS = 0.3
    settings.CURATOR_VALIDATION_FRACTION = 0.3
    monkeypatch.setenv("CURATOR_VALIDATION_FRACTION", "0.3")
    approve_conversations(dataset)
    run = create_retrain(dataset=dataset, like=finetune, user=None, judge="")
    deadline = time.monotonic() + 240  # guards against a hang only
    while True:
        run_worker("default", "training", "eval", "--with-scheduler")
        run.refresh_from_db()
        if not run.is_active or time.monotonic() > deadline:
            break
        time.sleep(0.4)
    assert run.status == JobStatus.SUCCEEDED, run.error
    # No production model yet: the new model is evaluated, nothing to compare with.
    assert run.version.is_built and run.finetune.status == JobStatus.SUCCEEDED
    assert run.candidate_run.status == JobStatus.SUCCEEDED and run.comparison_id is None
    assert RetrainRun.objects.get(pk=run.pk).attempts == 1
