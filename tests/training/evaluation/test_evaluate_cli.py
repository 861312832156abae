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


def test_the_finetune_beats_its_base_and_the_comparison_says_so(
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
    assert tuned["metrics"]["rouge_l"] > base["metrics"]["rouge_l"]
    assert tuned["metrics"]["judge_mean"] > base["metrics"]["judge_mean"]
    assert tuned["metrics"]["tool_call_accuracy"] == 1.0
    assert base["metrics"]["tool_call_accuracy"] == 0.0
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
    assert compared["b_wins"] > compared["a_wins"]
    low, high = compared["ci95"]
    assert low <= compared["b_win_rate"] <= high and low > 0.5


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
