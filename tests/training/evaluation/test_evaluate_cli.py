"""``manage.py evaluate`` and ``compare_runs``: the loop on the simulator, JSON last."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.training.evaluation.conftest import BASE, JUDGE
from training.evaluation.models import EvalExample, EvalRun
from training.registry.models import Model, ModelKind

pytestmark = pytest.mark.django_db


def run(command: str, *args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command(command, *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_evaluate_and_compare_run_a_finetune_and_its_base_end_to_end(
    finetune: Any, dataset: Any
) -> None:
    registered = Model.objects.get(job=finetune)
    assert registered.kind == ModelKind.HOSTED_FINETUNE
    assert registered.base.name == BASE and registered.version == finetune.version

    base = run(
        "evaluate",
        "--dataset",
        dataset.slug,
        "--version",
        "1",
        "--model",
        f"openai:{BASE}",
        "--judge",
        JUDGE,
        "--wait",
    )
    tuned = run(
        "evaluate",
        "--dataset",
        dataset.slug,
        "--version",
        "1",
        "--model",
        f"job:{finetune.pk}",
        "--judge",
        JUDGE,
        "--wait",
    )
    assert base["status"] == tuned["status"] == "succeeded"
    assert base["examples"] == tuned["examples"] == 8
    # Who wins is the data's business (the simulated fine-tune learned its training file
    # only and can lose); the loop must measure both on the same examples.
    for result in (base, tuned):
        assert 0 <= result["metrics"]["rouge_l"] <= 1
        assert 1 <= result["metrics"]["judge_mean"] <= 5
        assert 0 <= result["metrics"]["tool_call_accuracy"] <= 1
    assert tuned["metrics"] != base["metrics"]
    assert tuned["simulated"] is True and tuned["metrics"]["cost_usd"] > 0

    compared = run(
        "compare_runs",
        "--runs",
        str(base["run"]),
        str(tuned["run"]),
        "--judge",
        JUDGE,
        "--wait",
    )
    assert compared["runs"] == [base["run"], tuned["run"]]
    assert compared["examples"] == 8
    assert compared["a_wins"] + compared["b_wins"] + compared["ties"] == 8
    low, high = compared["ci95"]
    assert 0 <= low <= compared["b_win_rate"] <= high <= 1


def test_limit_caps_the_examples_and_outputs_are_stored_once(
    sim: Any, eval_version: Any, dataset: Any
) -> None:
    result = run(
        "evaluate",
        "--dataset",
        dataset.slug,
        "--version",
        "1",
        "--model",
        f"openai:{BASE}",
        "--limit",
        "3",
        "--concurrency",
        "2",
        "--wait",
    )
    assert result["examples"] == 3
    assert EvalExample.objects.filter(run_id=result["run"]).count() == 3
    assert result["metrics"]["judge_mean"] is None


def test_unknown_model_is_a_one_line_error(sim: Any, eval_version: Any, dataset: Any) -> None:
    with pytest.raises(CommandError, match="no provider or endpoint named 'nowhere'"):
        run("evaluate", "--dataset", dataset.slug, "--version", "1", "--model", "nowhere:x")
    assert not EvalRun.objects.exists()
