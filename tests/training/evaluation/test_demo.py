"""`make run`'s demo: setup_demo leaves a finished fine-tune that a restarted simulator
answers for, evaluated against its base on a validation split big enough for the promotion
gate. The simulated fine-tune learned its training file only; it beats its base here because
the demo's validation prompts are like its training prompts (curation/demo/generate.py)."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command

from curation.models import ConversationStatus, Dataset
from tests.conftest import free_port
from tests.training.evaluation.conftest import simulator_settings
from training.evaluation.services.demo import teach_simulator
from training.evaluation.services.runs import create_eval_run, run_eval_job
from training.models import FineTuneJob
from training.registry.models import Model
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db


def test_the_demo_finetune_ran_like_any_other_and_can_be_evaluated_against_its_base(
    settings: Any, monkeypatch: Any
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    port = free_port()
    # setup_demo serves the simulator's address itself while it trains, as `make run` starts
    # the long-running simulator only afterwards.
    address = SimpleNamespace(base_url=f"http://127.0.0.1:{port}/v1")
    simulator_settings(settings, address)  # type: ignore[arg-type]
    out = io.StringIO()
    call_command("setup_demo", stdout=out)
    assert "finished (simulated) fine-tune" in out.getvalue()
    dataset = Dataset.objects.get(slug="support-demo")
    job = FineTuneJob.objects.get(dataset=dataset)
    assert job.status == "succeeded" and job.fine_tuned_model.startswith("ft:")
    # What a fine-tune's page shows came from the provider's API, as for any other job.
    assert job.remote_training_file.startswith("file-") and job.remote_validation_file
    assert job.estimated_tokens and job.trained_tokens
    assert job.events.exists() and job.checkpoints.exists()
    assert job.metrics.filter(train_loss__isnull=False).count() > 1
    model = Model.objects.get(job=job)
    assert model.base is not None and model.version == job.version
    assert dataset.conversations.filter(status=ConversationStatus.IN_REVIEW).exists()

    # Running it again changes nothing; a restarted simulator learns the fine-tune.
    call_command("setup_demo", stdout=io.StringIO())
    assert FineTuneJob.objects.filter(dataset=dataset).count() == 1
    with SimulatorServer(port=port) as server:
        assert teach_simulator(server.state) == 1
        results, runs = {}, []
        for target in (model.base, model):
            run = create_eval_run(dataset=dataset, version=job.version, model=target, enqueue=False)
            runs.append(run)
            results[target.pk] = run_eval_job(run_id=run.pk).metrics
    # The promotion gate's minimum sample (30) fits in the validation split.
    assert job.version.validation_examples >= 30
    assert all(run.outputs.count() >= 30 for run in runs)
    # Seen on this data (98 validation examples): ROUGE-L 0.74 for the fine-tune (the nearest
    # training reply), 0.10 for the base. A property of the demo's data, not of the
    # simulator: a fine-tune of data unlike its validation prompts would not win.
    assert results[model.pk]["rouge_l"] > results[model.base.pk]["rouge_l"]


def test_the_demo_goes_without_a_finetune_where_the_simulator_address_is_taken(
    settings: Any, monkeypatch: Any, caplog: Any
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with SimulatorServer(port=0) as running:
        simulator_settings(settings, running)
        out = io.StringIO()
        call_command("setup_demo", stdout=out)
    assert "fine-tune" not in out.getvalue()
    assert not FineTuneJob.objects.exists()
    assert "run setup_demo while the simulator is stopped" in caplog.text
