"""`make run`'s demo: setup_demo leaves a finished fine-tune that a restarted simulator
answers for, so evaluating it against its base shows the fine-tune winning."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from curation.models import ConversationStatus, Dataset
from tests.training.evaluation.conftest import simulator_settings
from training.evaluation.services.demo import teach_simulator
from training.evaluation.services.runs import create_eval_run, run_eval_job
from training.models import FineTuneJob
from training.registry.models import Model
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db


def test_the_demo_finetune_can_be_evaluated_against_its_base(
    settings: Any, monkeypatch: Any
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with SimulatorServer(port=0) as server:
        simulator_settings(settings, server)
        # setup_demo needs neither the simulator nor a worker: nothing is sent anywhere.
        out = io.StringIO()
        call_command("setup_demo", stdout=out)
        assert "finished (simulated) fine-tune" in out.getvalue()
        assert not server.state.request_log
        dataset = Dataset.objects.get(slug="support-demo")
        job = FineTuneJob.objects.get(dataset=dataset)
        assert job.status == "succeeded" and job.fine_tuned_model.startswith("ft:")
        model = Model.objects.get(job=job)
        assert model.base is not None and model.version == job.version
        assert dataset.conversations.filter(status=ConversationStatus.IN_REVIEW).exists()

        # Running it again changes nothing; a restarted simulator learns the fine-tune.
        call_command("setup_demo", stdout=io.StringIO())
        assert FineTuneJob.objects.filter(dataset=dataset).count() == 1
        assert teach_simulator(server.state) == 1

        results = {}
        for target in (model.base, model):
            run = create_eval_run(dataset=dataset, version=job.version, model=target, enqueue=False)
            results[target.pk] = run_eval_job(run_id=run.pk).metrics
        assert results[model.pk]["rouge_l"] > 0.8 > results[model.base.pk]["rouge_l"]
