"""Reads for the evaluation pages: runs, their examples, judge-vs-human agreement."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from curation.agreement import krippendorff_alpha
from curation.models import Dataset, Review
from training.evaluation.models import (
    Comparison,
    EvalExample,
    EvalRun,
    ExampleStatus,
    PreScore,
    PreScoreRun,
)
from training.registry.models import Model, ModelKind


def runs_for(dataset: Dataset) -> QuerySet[EvalRun]:
    return EvalRun.objects.for_dataset(dataset).select_related(
        "model", "judge", "version", "created_by"
    )


def comparisons_for(dataset: Dataset) -> QuerySet[Comparison]:
    return Comparison.objects.filter(dataset=dataset).select_related(
        "run_a__model", "run_b__model", "judge"
    )


def finetunes_to_evaluate(dataset: Dataset) -> list[Model]:
    """Fine-tuned models of this dataset, newest first, each with its base."""
    return list(
        Model.objects.filter(
            dataset=dataset, kind__in=[ModelKind.HOSTED_FINETUNE, ModelKind.LOCAL_ADAPTER]
        )
        .select_related("base", "version", "job")
        .order_by("-created_at")
    )


def run_examples(run: EvalRun, *, show: str = "") -> QuerySet[EvalExample]:
    rows = EvalExample.objects.filter(run=run).order_by("position")
    if show == "failed":
        rows = rows.filter(status=ExampleStatus.FAILED)
    elif show == "worst":
        rows = rows.filter(status=ExampleStatus.OK).order_by("judge_mean", "position")
    return rows


def judge_human_agreement(run: EvalRun) -> list[dict[str, Any]]:
    """Per rubric criterion, Krippendorff's alpha (ordinal) between the judge's scores and
    people's review scores on the examples people reviewed."""
    judged = {
        row["conversation_id"]: row["judge_scores"]
        for row in EvalExample.objects.filter(
            run=run, judge_scores__isnull=False, conversation_id__isnull=False
        ).values("conversation_id", "judge_scores")
    }
    if not judged:
        return []
    human: dict[int, list[dict[str, Any]]] = {}
    for conversation_id, scores in Review.objects.filter(
        conversation_id__in=list(judged)
    ).values_list("conversation_id", "scores"):
        human.setdefault(conversation_id, []).append(scores or {})
    result = []
    for criterion in run.dataset.criteria:
        key = criterion["key"]
        units: dict[int, list[Any]] = {}
        for conversation_id, reviews in human.items():
            people = [r.get(key) for r in reviews if isinstance(r.get(key), int)]
            machine = judged[conversation_id].get(key)
            if people and isinstance(machine, int):
                units[conversation_id] = [machine, *people]
        result.append(
            {
                "key": key,
                "name": criterion["name"],
                "examples": len(units),
                "alpha": krippendorff_alpha(units, level="ordinal") if units else None,
            }
        )
    return result


def prescores(
    dataset: Dataset, *, below: float | None, above: float | None, sort: str
) -> QuerySet[PreScore]:
    rows = PreScore.objects.filter(dataset=dataset).select_related("conversation")
    if below is not None:
        rows = rows.filter(mean__lt=below)
    if above is not None:
        rows = rows.filter(mean__gte=above)
    return rows.order_by("-mean" if sort == "high" else "mean", "conversation_id")


def prescore_runs(dataset: Dataset) -> QuerySet[PreScoreRun]:
    return PreScoreRun.objects.filter(dataset=dataset).select_related("judge", "created_by")
