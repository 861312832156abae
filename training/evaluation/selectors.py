"""Reads for the evaluation pages: runs, their examples, judge-vs-human agreement."""

from __future__ import annotations

from django.db.models import QuerySet

from curation.models import Dataset
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
