"""The judge's failures are results: replies are read robustly (raw_decode), what cannot be
read is stored as an error, shown and counted, and a comparison whose judgements fail past
the threshold fails. The judge is never a contestant unless forced. "Can the judge be
trusted?" is Cohen's kappa against people's blind verdicts (statsmodels' value)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from statsmodels.stats.inter_rater import cohens_kappa

from tests.training.evaluation.conftest import BASE
from training.evaluation.judge import MAX_JUDGE_TOKENS, PAIRWISE_SYSTEM, RUBRIC_SYSTEM
from training.evaluation.judge_format import parse_json_reply
from training.evaluation.models import JudgeVerdict
from training.evaluation.services.comparisons import (
    ComparisonError,
    create_comparison,
    run_comparison_job,
)
from training.evaluation.services.runs import EvaluationError, create_eval_run, run_eval_job
from training.evaluation.stats import cohen_kappa

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"winner": "A", "reason": "it closes the {ticket} properly"}', "A"),
        ('Verdict: {"winner": "B", "reason": "uses a dict like {\\"a\\": 1}"} done', "B"),
        ('"{\\"winner\\": \\"tie\\", \\"reason\\": \\"same\\"}"', "tie"),
        ('First {"note": "x"} then {"winner": "A", "reason": "r"}', "A"),
    ],
)
def test_replies_with_braces_quotes_and_prose_are_read(reply: str, expected: str) -> None:
    assert parse_json_reply(reply, expect="winner")["winner"] == expected


def test_a_reply_cut_short_reads_as_nothing() -> None:
    assert (
        parse_json_reply('{"winner": "A", "reason": "because the answer is comp', expect="winner")
        is None
    )


def test_the_prompts_say_to_ignore_length_and_order() -> None:
    assert "Ignore length" in RUBRIC_SYSTEM and "Ignore length" in PAIRWISE_SYSTEM
    assert "ignore which comes first" in PAIRWISE_SYSTEM
    assert MAX_JUDGE_TOKENS >= 600


@pytest.fixture
def two_runs(sim: Any, dataset: Any, eval_version: Any, finetune: Any) -> list[Any]:
    runs = []
    for ref in (f"openai:{BASE}", f"job:{finetune.pk}"):
        run = create_eval_run(dataset=dataset, version=eval_version, model=ref, enqueue=False)
        runs.append(run_eval_job(run_id=run.pk))
    return runs


def test_unreadable_judgements_are_stored_counted_and_fail_the_comparison(
    sim: Any, two_runs: list[Any]
) -> None:
    comparison = create_comparison(
        run_a=two_runs[0], run_b=two_runs[1], judge="openai:gpt-4.1-2025-04-14", enqueue=False
    )
    # Every judge call refused (400, not retried): each pair's judgement is an error.
    sim.set_faults("chat.completions=" + ",".join(["400"] * 40))
    comparison = run_comparison_job(comparison_id=comparison.pk)
    comparison.refresh_from_db()
    assert comparison.status == "failed"
    assert comparison.judge_failures == 8
    assert "the judge failed on 8 of 8 pairs" in comparison.error
    errors = JudgeVerdict.objects.filter(comparison=comparison).exclude(error="")
    assert errors.count() == 8 and all(v.winner == "" for v in errors)


def test_the_judge_cannot_be_a_contestant_unless_forced(
    sim: Any, dataset: Any, eval_version: Any, two_runs: list[Any]
) -> None:
    contestant = f"openai:{BASE}"
    with pytest.raises(ComparisonError, match="one of the two models compared"):
        create_comparison(run_a=two_runs[0], run_b=two_runs[1], judge=contestant, enqueue=False)
    forced = create_comparison(
        run_a=two_runs[0],
        run_b=two_runs[1],
        judge=contestant,
        enqueue=False,
        allow_contestant_judge=True,
    )
    assert forced.judge_id == two_runs[0].model_id
    with pytest.raises(EvaluationError, match="would score its own"):
        create_eval_run(
            dataset=dataset, version=eval_version, model=contestant, judge=contestant, enqueue=False
        )
    with pytest.raises(CommandError, match="one of the two models compared"):
        call_command(
            "compare_runs",
            "--runs",
            str(two_runs[0].pk),
            str(two_runs[1].pk),
            "--judge",
            contestant,
            stdout=io.StringIO(),
        )
    err = io.StringIO()
    call_command(
        "compare_runs",
        "--runs",
        str(two_runs[0].pk),
        str(two_runs[1].pk),
        "--judge",
        contestant,
        "--allow-contestant-judge",
        stdout=io.StringIO(),
        stderr=err,
    )
    assert "warning: the judge is one of the two models compared" in err.getvalue()


def test_judge_trust_is_cohens_kappa_as_statsmodels_computes_it() -> None:
    judge = ["a"] * 20 + ["b"] * 15 + ["tie"] * 5 + ["a"] * 6 + ["b"] * 4
    people = ["a"] * 18 + ["b"] * 2 + ["b"] * 13 + ["a"] * 2 + ["tie"] * 5 + ["b"] * 6 + ["a"] * 4
    result = cohen_kappa(judge, people)
    labels = ["a", "b", "tie"]
    table = [
        [sum(1 for x, y in zip(judge, people, strict=True) if x == r and y == c) for c in labels]
        for r in labels
    ]
    reference = cohens_kappa(table)
    assert result["kappa"] == pytest.approx(reference.kappa, abs=1e-12)
    assert result["ci95"][0] == pytest.approx(reference.kappa_low, abs=1e-9)
    assert result["ci95"][1] == pytest.approx(reference.kappa_upp, abs=1e-9)
    assert result["agreement"] == pytest.approx(
        sum(x == y for x, y in zip(judge, people, strict=True)) / 50
    )
