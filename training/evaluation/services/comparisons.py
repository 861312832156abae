"""Comparisons of two runs: pairwise judge verdicts (a job), blind pairs for people, and the
numbers the comparison page and the CLI report."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import transaction

from curation.agreement import krippendorff_alpha
from curation.models import AuditEvent
from training.evaluation import judge as judging
from training.evaluation.client import EndpointError, EndpointNotConfigured, endpoint_for
from training.evaluation.judge_format import PAIRWISE_PROMPT_VERSION
from training.evaluation.messages import text_of
from training.evaluation.metrics import (
    MEAN_METRICS,
    METRIC_LABELS,
    bootstrap_ci,
    mean,
    win_rate,
)
from training.evaluation.models import (
    BlindPair,
    Comparison,
    EvalExample,
    EvalRun,
    ExampleStatus,
    HumanVerdict,
    JudgeVerdict,
    Winner,
)
from training.evaluation.stats import cohen_kappa, majority
from training.registry.models import Model
from training.registry.services import UnknownModel, ensure_usable, resolve_model
from training.registry.stages import RegistrySettings

logger = logging.getLogger(__name__)


class ComparisonError(ValueError):
    """Runs that cannot be compared; the message says why."""


def shared_outputs(run_a: EvalRun, run_b: EvalRun) -> list[tuple[EvalExample, EvalExample]]:
    """Pairs of scored outputs of the two runs on the same examples, in A's order."""
    b_rows = {
        row.key: row for row in EvalExample.objects.filter(run=run_b, status=ExampleStatus.OK)
    }
    return [
        (row, b_rows[row.key])
        for row in EvalExample.objects.filter(run=run_a, status=ExampleStatus.OK).order_by(
            "position"
        )
        if row.key in b_rows
    ]


def failure_outcomes(run_a: EvalRun, run_b: EvalRun) -> tuple[dict[str, str], list[str]]:
    """Examples a failure decides, and the keys both runs answered.

    A side that failed an example (or has no output for it) loses it; both failing is a tie.
    Counting only the examples both answered would let a candidate that fails 4 of 10 pass
    on 6 of 6 wins."""
    status_a = dict(EvalExample.objects.filter(run=run_a).values_list("key", "status"))
    status_b = dict(EvalExample.objects.filter(run=run_b).values_list("key", "status"))
    decided: dict[str, str] = {}
    both: list[str] = []
    for key in sorted(status_a.keys() | status_b.keys()):
        ok_a, ok_b = status_a.get(key) == ExampleStatus.OK, status_b.get(key) == ExampleStatus.OK
        if ok_a and ok_b:
            both.append(key)
        else:
            decided[key] = Winner.A if ok_a else Winner.B if ok_b else Winner.TIE
    return decided, both


def people_per_example(comparison: Comparison) -> dict[str, str]:
    """One verdict per example from everyone who judged its blind pair (majority; a tie
    when no option has the most votes), so three reviewers on one pair count once."""
    votes: dict[str, list[str]] = {}
    for key, winner in HumanVerdict.objects.filter(pair__comparison=comparison).values_list(
        "pair__key", "winner"
    ):
        votes.setdefault(key, []).append(winner)
    return {key: majority(values) for key, values in votes.items()}


def judge_per_example(comparison: Comparison) -> dict[str, str]:
    return dict(
        JudgeVerdict.objects.filter(comparison=comparison, error="").values_list("key", "winner")
    )


def judge_people_agreement(judged: dict[str, str], people: dict[str, str]) -> dict[str, Any]:
    """Can the judge be trusted? Its verdict against people's blind verdict (their majority)
    on the same pairs: agreement rate and Cohen's kappa with its 95 % interval. A warning
    when, over ten or more pairs, kappa stays below 0.4 (no better than fair agreement)."""
    keys = sorted(judged.keys() & people.keys())

    def label(winner: str) -> str:
        return "tie" if winner in (Winner.TIE, Winner.BOTH_BAD) else winner

    result = cohen_kappa([label(judged[k]) for k in keys], [label(people[k]) for k in keys])
    kappa = result["kappa"]
    result["warning"] = bool(len(keys) >= 10 and (kappa is None or kappa < 0.4))
    return result


def create_comparison(
    *,
    run_a: EvalRun,
    run_b: EvalRun,
    judge: Model | str | None = None,
    reviews_needed: int = 1,
    user: Any = None,
    enqueue: bool = True,
    allow_contestant_judge: bool = False,
) -> Comparison:
    if run_a.pk == run_b.pk:
        raise ComparisonError("pick two different runs")
    if run_a.dataset_id != run_b.dataset_id:
        raise ComparisonError("the runs evaluate different datasets")
    for run in (run_a, run_b):
        if run.status != "succeeded":
            raise ComparisonError(f"run {run.pk} is {run.status}; compare finished runs")
    try:
        chosen_judge = (
            resolve_model(judge, dataset=run_a.dataset)
            if isinstance(judge, str) and judge
            else ensure_usable(judge, run_a.dataset)
            if isinstance(judge, Model)
            else None
        )
    except UnknownModel as error:
        raise ComparisonError(str(error)) from None
    if (
        chosen_judge is not None
        and chosen_judge.pk in (run_a.model_id, run_b.model_id)
        and not allow_contestant_judge
    ):
        raise ComparisonError(
            f"the judge {chosen_judge.ref} is one of the two models compared and would judge "
            "its own replies; choose another judge (or force it, knowing the verdicts lean)"
        )
    pairs = shared_outputs(run_a, run_b)
    if not pairs:
        raise ComparisonError("the runs share no scored example")
    rng = random.SystemRandom()
    with transaction.atomic():
        comparison = Comparison.objects.create(
            dataset_id=run_a.dataset_id,
            run_a=run_a,
            run_b=run_b,
            judge=chosen_judge,
            judge_prompt_version=PAIRWISE_PROMPT_VERSION if chosen_judge else "",
            judge_prompt=judging.prompt_template([], pairwise=True) if chosen_judge else "",
            reviews_needed=max(1, reviews_needed),
            gate=RegistrySettings.for_dataset(run_a.dataset).gate,
            examples=len(pairs),
            total=len(pairs),
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        BlindPair.objects.bulk_create(
            [
                BlindPair(
                    comparison=comparison,
                    key=a.key,
                    position=a.position,
                    # Drawn once per pair, so a reload shows the same sides.
                    left_is_a=rng.random() < 0.5,
                )
                for a, _b in pairs
            ]
        )
        AuditEvent.record(
            actor=user,
            action="eval.compare",
            obj=comparison,
            dataset=run_a.dataset,
            runs=[run_a.pk, run_b.pk],
            judge=chosen_judge.ref if chosen_judge else None,
            judge_is_contestant=bool(
                chosen_judge and chosen_judge.pk in (run_a.model_id, run_b.model_id)
            ),
        )
        if chosen_judge is None:
            comparison.succeed(done=0)
        elif enqueue:
            transaction.on_commit(comparison.enqueue)
    return comparison


def run_comparison_job(*, comparison_id: int) -> Comparison:
    comparison = Comparison.objects.select_related("run_a", "run_b", "judge").get(pk=comparison_id)

    def judge() -> None:
        assert comparison.judge is not None  # only a comparison with a judge is queued
        endpoint = endpoint_for(comparison.judge)
        # Failed judgements are asked again on a retry; readable verdicts never are.
        JudgeVerdict.objects.filter(comparison=comparison).exclude(error="").delete()
        judged = set(
            JudgeVerdict.objects.filter(comparison=comparison).values_list("key", flat=True)
        )
        pairs = [
            pair
            for pair in shared_outputs(comparison.run_a, comparison.run_b)
            if pair[0].key not in judged
        ]
        comparison.beat(total=len(judged) + len(pairs), done=len(judged))

        def one(pair: tuple[EvalExample, EvalExample]) -> JudgeVerdict:
            a, b = pair
            assert a.output is not None and b.output is not None  # shared_outputs: scored only
            try:
                first, second, winner, reasons = judging.pairwise(
                    endpoint,
                    prompt=a.prompt,
                    tools=a.tools,
                    a=a.output,
                    b=b.output,
                    reference=a.reference,
                )
            except (judging.JudgeError, EndpointError) as error:
                if isinstance(error, EndpointError) and error.unreachable:
                    raise
                logger.warning("comparison %s: %s", comparison.pk, error)
                return JudgeVerdict(
                    comparison=comparison,
                    key=a.key,
                    first="",
                    second="",
                    winner="",
                    error=str(error)[:2000] or type(error).__name__,
                )
            return JudgeVerdict(
                comparison=comparison,
                key=a.key,
                first=first,
                second=second,
                winner=winner,
                reasons=reasons,
            )

        done = len(judged)
        workers = max(1, min(comparison.run_a.concurrency, endpoint.max_concurrency))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            batch: list[JudgeVerdict] = []
            for verdict in pool.map(one, pairs):
                batch.append(verdict)
                if len(batch) >= 25:
                    JudgeVerdict.objects.bulk_create(batch, ignore_conflicts=True)
                    done += len(batch)
                    batch = []
                    comparison.beat(done=done)
            JudgeVerdict.objects.bulk_create(batch, ignore_conflicts=True)
            done += len(batch)
        failures = JudgeVerdict.objects.filter(comparison=comparison).exclude(error="")
        failed = failures.count()
        total = JudgeVerdict.objects.filter(comparison=comparison).count()
        limit = float(getattr(settings, "CURATOR_JUDGE_MAX_FAILURE_SHARE", 0.1))
        if total and failed / total > limit:
            first = failures.order_by("id").values_list("error", flat=True).first()
            comparison.fail(
                f"the judge failed on {failed} of {total} pairs (more than {limit:.0%}); "
                f"first error: {first}. Retry asks it again about those pairs",
                done=done,
                judge_failures=failed,
            )
            return
        comparison.succeed(done=done, judge_failures=failed)

    def unreachable(error: EndpointError | EndpointNotConfigured) -> None:
        comparison.fail(f"judge: {error}")

    comparison.run_claimed(
        judge,
        handlers={EndpointError: unreachable, EndpointNotConfigured: unreachable},
        unexpected=lambda error: f"unexpected error ({type(error).__name__}: {error})",
    )
    return comparison


# -- reading ---------------------------------------------------------------------------------


def _tally(winners: list[str]) -> dict[str, Any]:
    counts = Counter(winners)
    a, b, ties = counts[Winner.A], counts[Winner.B], counts[Winner.TIE] + counts[Winner.BOTH_BAD]
    rate, interval = win_rate(a, b, ties)
    return {
        "a_wins": a,
        "b_wins": b,
        "ties": counts[Winner.TIE],
        "both_bad": counts[Winner.BOTH_BAD],
        "total": a + b + ties,
        "b_win_rate": rate,
        "ci95": list(interval) if interval else None,
    }


def human_agreement(comparison: Comparison) -> dict[str, Any]:
    """Krippendorff's alpha (nominal) over pairs that two or more people judged."""
    units: dict[int, list[str]] = {}
    for pair_id, winner in HumanVerdict.objects.filter(pair__comparison=comparison).values_list(
        "pair_id", "winner"
    ):
        units.setdefault(pair_id, []).append(winner)
    multi = {unit: values for unit, values in units.items() if len(values) >= 2}
    return {
        "pairs": len(multi),
        "alpha": krippendorff_alpha(multi, level="nominal") if multi else None,
    }


def metric_table(runs: list[EvalRun]) -> list[dict[str, Any]]:
    """Per metric: each run's value, and each later run's delta from the first with a 95 %
    bootstrap interval of the paired difference over the examples they share."""
    by_run = {
        run.pk: {
            row["key"]: row
            for row in EvalExample.objects.filter(run=run, status=ExampleStatus.OK).values(
                "key", "metrics", "judge_mean", "latency_ms"
            )
        }
        for run in runs
    }

    def value(row: Mapping[str, Any], name: str) -> float | None:
        if name in ("judge_mean", "latency_ms"):
            return row[name]
        return row["metrics"].get(name)

    base = runs[0]
    table = []
    for name in (*MEAN_METRICS, "judge_mean", "latency_ms"):
        cells = []
        for run in runs:
            values = [value(row, name) for row in by_run[run.pk].values()]
            cell: dict[str, Any] = {
                "run": run.pk,
                "value": mean(values),
                "n": sum(v is not None for v in values),
            }
            if run.pk != base.pk:
                differences = []
                for key, row in by_run[run.pk].items():
                    other = by_run[base.pk].get(key)
                    if other is None:
                        continue
                    x, y = value(row, name), value(other, name)
                    if x is not None and y is not None:
                        differences.append(x - y)
                cell["delta"] = mean(differences)
                interval = bootstrap_ci(differences, resamples=1000)
                cell["ci95"] = list(interval) if interval else None
            cells.append(cell)
        if any(cell["n"] for cell in cells):
            table.append({"metric": name, "label": METRIC_LABELS.get(name, name), "cells": cells})
    return table


def regressions(comparison: Comparison, *, limit: int = 50) -> list[dict[str, Any]]:
    """Examples where B did worse than A, worst first: B failed where A answered, the
    judge preferred A, B's judge score is lower, or (with no judge figure) B's ROUGE-L is
    lower. An empty list means there is no regression."""
    verdicts = judge_per_example(comparison)
    rows = []
    for a, b in shared_outputs(comparison.run_a, comparison.run_b):
        judge_delta = (
            (b.judge_mean - a.judge_mean)
            if a.judge_mean is not None and b.judge_mean is not None
            else None
        )
        rouge_a, rouge_b = a.metrics.get("rouge_l"), b.metrics.get("rouge_l")
        rouge_delta = (rouge_b - rouge_a) if rouge_a is not None and rouge_b is not None else None
        worse = (
            verdicts.get(a.key) == Winner.A
            or (judge_delta is not None and judge_delta < 0)
            or (judge_delta is None and rouge_delta is not None and rouge_delta < 0)
        )
        if not worse:
            continue
        rows.append(
            {
                "key": a.key,
                "position": a.position,
                "prompt": a.prompt,
                "reference": a.reference,
                "a": a.output,
                "b": b.output,
                "judge_delta": judge_delta,
                "rouge_delta": rouge_delta,
                "a_judge": a.judge_mean,
                "b_judge": b.judge_mean,
                "b_failed": "",
            }
        )
    failed_b = {
        row.key: row
        for row in EvalExample.objects.filter(run=comparison.run_b).exclude(status=ExampleStatus.OK)
    }
    for a in EvalExample.objects.filter(
        run=comparison.run_a, status=ExampleStatus.OK, key__in=list(failed_b)
    ):
        rows.append(
            {
                "key": a.key,
                "position": a.position,
                "prompt": a.prompt,
                "reference": a.reference,
                "a": a.output,
                "b": None,
                "judge_delta": None,
                "rouge_delta": None,
                "a_judge": a.judge_mean,
                "b_judge": None,
                "b_failed": failed_b[a.key].error or "failed",
            }
        )
    rows.sort(
        key=lambda r: (
            0 if r["b_failed"] else 1,
            r["judge_delta"] if r["judge_delta"] is not None else 0,
            r["rouge_delta"] or 0,
        )
    )
    return rows[:limit]


def comparison_summary(comparison: Comparison) -> dict[str, Any]:
    """Judge and people tallies per example, failed examples counted as the failing side's
    losses (people's only once someone has judged)."""
    decided, both = failure_outcomes(comparison.run_a, comparison.run_b)
    judged = judge_per_example(comparison)
    people = people_per_example(comparison)
    judge_winners = [*judged.values(), *decided.values()] if comparison.judge_id else []
    human_winners = [*people.values(), *decided.values()] if people else []
    criteria = [c["key"] for c in comparison.dataset.criteria]
    per_criterion = []
    for key in criteria:
        per_criterion.append(
            {
                "key": key,
                "a": (comparison.run_a.metrics.get("judge_criteria") or {}).get(key),
                "b": (comparison.run_b.metrics.get("judge_criteria") or {}).get(key),
            }
        )
    return {
        "examples": comparison.examples,
        "judge": _tally(judge_winners),
        "human": _tally(human_winners),
        "human_agreement": human_agreement(comparison),
        "per_criterion": per_criterion,
        "failures": {
            "a_failed": sum(1 for w in decided.values() if w == Winner.B),
            "b_failed": sum(1 for w in decided.values() if w == Winner.A),
            "both_failed": sum(1 for w in decided.values() if w == Winner.TIE),
        },
        "judge_failures": comparison.judge_failures,
        "judge_people": judge_people_agreement(judged, people),
        "unjudged": sum(1 for key in both if key not in judged) if comparison.judge_id else 0,
    }


def cli_summary(comparison: Comparison) -> dict[str, Any]:
    summary = comparison_summary(comparison)
    # The judge decides the headline; without a judge, people's verdicts do.
    source = summary["judge"] if comparison.judge_id else summary["human"]
    return {
        "comparison": comparison.pk,
        "status": comparison.status,
        "runs": [comparison.run_a_id, comparison.run_b_id],
        "examples": comparison.examples,
        "a_wins": source["a_wins"],
        "b_wins": source["b_wins"],
        "ties": source["ties"] + source["both_bad"],
        "b_win_rate": source["b_win_rate"],
        "ci95": source["ci95"],
        "error": comparison.error or None,
    }


def export_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """One row per shared example, for the CSV and JSON exports."""
    verdicts = dict(JudgeVerdict.objects.filter(comparison=comparison).values_list("key", "winner"))
    humans: dict[str, list[str]] = {}
    for key, winner in HumanVerdict.objects.filter(pair__comparison=comparison).values_list(
        "pair__key", "winner"
    ):
        humans.setdefault(key, []).append(winner)
    rows = []
    for a, b in shared_outputs(comparison.run_a, comparison.run_b):
        rows.append(
            {
                "position": a.position,
                "key": a.key,
                "prompt": a.prompt,
                "reference": text_of(a.reference),
                "a_output": text_of(a.output),
                "b_output": text_of(b.output),
                "a_rouge_l": a.metrics.get("rouge_l"),
                "b_rouge_l": b.metrics.get("rouge_l"),
                "a_exact_match": a.metrics.get("exact_match"),
                "b_exact_match": b.metrics.get("exact_match"),
                "a_judge": a.judge_mean,
                "b_judge": b.judge_mean,
                "judge_winner": verdicts.get(a.key),
                "human_winners": humans.get(a.key, []),
            }
        )
    return rows
