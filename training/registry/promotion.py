"""Promotion with a gate, rollback, and canaries: the only writers of model stages.

The gate: a comparison of the candidate with the current production model, on one eval set,
must show the candidate is not worse — the judge's or people's win rate with its 95 %
interval above 0.5, or a chosen metric whose interval of the paired difference lies above 0.
A refused promotion raises ``PromotionRefused`` with the numbers and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from curation.models import AuditEvent, Dataset, JobStatus
from training.evaluation.metrics import MEAN_METRICS
from training.evaluation.models import Comparison
from training.evaluation.services.comparisons import comparison_summary, metric_table
from training.registry.models import Model
from training.registry.stages import ModelStage, StageAction, StageEvent, StageName
from training.registry.webhooks import queue_webhook

# Metrics a gate may use: higher is better for each (latency is not one of them).
GATE_METRICS = (*MEAN_METRICS, "judge_mean")


class PromotionRefused(Exception):
    """The gate said no (or the request makes no sense); ``details`` holds the numbers."""

    def __init__(self, reason: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details or {}


@dataclass
class GateResult:
    passed: bool
    reason: str
    comparison: Comparison | None = None
    details: dict[str, Any] = field(default_factory=dict)


def production_stage(dataset: Dataset) -> ModelStage | None:
    return (
        ModelStage.objects.select_related("model")
        .filter(dataset=dataset, stage=StageName.PRODUCTION)
        .first()
    )


def canary_stage(dataset: Dataset) -> ModelStage | None:
    return (
        ModelStage.objects.select_related("model")
        .filter(dataset=dataset, stage=StageName.CANARY)
        .first()
    )


def _flip(interval: list[float] | None) -> list[float] | None:
    return [1 - interval[1], 1 - interval[0]] if interval else None


def _candidate_view(tally: dict[str, Any], candidate_is_b: bool) -> dict[str, Any]:
    """A judge/human tally seen from the candidate's side."""
    rate = tally["b_win_rate"]
    interval = tally["ci95"]
    if not candidate_is_b:
        rate = 1 - rate if rate is not None else None
        interval = _flip(interval)
    return {
        "win_rate": rate,
        "ci95": interval,
        "pairs": tally["total"],
        "candidate_wins": tally["b_wins"] if candidate_is_b else tally["a_wins"],
        "production_wins": tally["a_wins"] if candidate_is_b else tally["b_wins"],
    }


def comparisons_between(dataset: Dataset, first: Model, second: Model) -> Any:
    return (
        Comparison.objects.filter(dataset=dataset, status=JobStatus.SUCCEEDED)
        .filter(
            Q(run_a__model=first, run_b__model=second) | Q(run_a__model=second, run_b__model=first)
        )
        .select_related("run_a", "run_b", "run_a__model", "run_b__model", "dataset")
        .order_by("-created_at", "-id")
    )


def evaluate_gate(
    *,
    dataset: Dataset,
    candidate: Model,
    production: Model,
    comparison: Comparison | None = None,
    metric: str = "",
) -> GateResult:
    """Whether ``comparison`` (or the latest suitable one) shows the candidate not worse."""
    if metric and metric not in GATE_METRICS:
        return GateResult(False, f"metric must be one of {', '.join(GATE_METRICS)}, not {metric!r}")
    if comparison is None:
        comparison = comparisons_between(dataset, candidate, production).first()
        if comparison is None:
            return GateResult(
                False,
                f"no finished comparison of {candidate.ref} with production ({production.ref}) "
                "on this dataset: evaluate both on the same eval set and compare them first",
            )
    models = {comparison.run_a.model_id, comparison.run_b.model_id}
    if comparison.dataset_id != dataset.pk or models != {candidate.pk, production.pk}:
        return GateResult(
            False,
            f"comparison {comparison.pk} is not between {candidate.ref} and production "
            f"({production.ref}) on {dataset.slug}",
            comparison,
        )
    if comparison.status != JobStatus.SUCCEEDED:
        return GateResult(False, f"comparison {comparison.pk} is {comparison.status}", comparison)
    run_a, run_b = comparison.run_a, comparison.run_b
    if (run_a.version_id, run_a.split) != (run_b.version_id, run_b.split):
        return GateResult(
            False, f"comparison {comparison.pk} compares runs on different eval sets", comparison
        )
    candidate_is_b = run_b.model_id == candidate.pk
    summary = comparison_summary(comparison)
    judge = _candidate_view(summary["judge"], candidate_is_b)
    human = _candidate_view(summary["human"], candidate_is_b)
    details: dict[str, Any] = {
        "comparison": comparison.pk,
        "eval_set": f"v{run_a.version.number} {run_a.split}",
        "judge": judge,
        "human": human,
    }
    passed_by = [
        source
        for source, tally in (("judge", judge), ("human", human))
        if tally["ci95"] and tally["ci95"][0] > 0.5
    ]
    if metric:
        production_run, candidate_run = (run_a, run_b) if candidate_is_b else (run_b, run_a)
        row = next(
            (
                row
                for row in metric_table([production_run, candidate_run])
                if row["metric"] == metric
            ),
            None,
        )
        cell = row["cells"][1] if row else {}
        details["metric"] = {
            "name": metric,
            "delta": cell.get("delta"),
            "ci95": cell.get("ci95"),
        }
        if cell.get("ci95") and cell["ci95"][0] > 0:
            passed_by.append(metric)
    details["passed_by"] = passed_by
    if passed_by:
        return GateResult(True, f"not worse by {', '.join(passed_by)}", comparison, details)
    return GateResult(False, _refusal_text(details), comparison, details)


def _fmt_interval(interval: list[float] | None) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "n/a"


def _refusal_text(details: dict[str, Any]) -> str:
    parts = []
    for source in ("judge", "human"):
        tally = details[source]
        if tally["pairs"]:
            rate = tally["win_rate"]
            parts.append(
                f"{source} win rate {rate:.3f} (95% CI {_fmt_interval(tally['ci95'])}, "
                f"{tally['pairs']} pairs)"
            )
        else:
            parts.append(f"no {source} verdicts")
    if "metric" in details:
        metric = details["metric"]
        delta = metric["delta"]
        parts.append(
            f"{metric['name']} difference "
            + (f"{delta:+.3f}" if delta is not None else "n/a")
            + f" (95% CI {_fmt_interval(metric['ci95'])})"
        )
    return (
        f"the gate refused: comparison {details['comparison']} on {details['eval_set']} does "
        "not show the candidate is not worse — " + "; ".join(parts)
    )


def _notify(event: StageEvent) -> None:
    queue_webhook(event=event)


def _set_stage(
    dataset: Dataset, model: Model, stage: str, *, fraction: float | None = None
) -> None:
    ModelStage.objects.update_or_create(
        dataset=dataset,
        model=model,
        defaults={"stage": stage, "fraction": fraction, "since": timezone.now()},
    )


def promote_model(
    *,
    dataset: Dataset,
    model: Model,
    user: Any,
    comparison: Comparison | None = None,
    metric: str = "",
    force: bool = False,
    reason: str = "",
) -> StageEvent:
    """Make ``model`` the dataset's production model, through the gate (or a staff override)."""
    with transaction.atomic():
        # Lock the dataset row: two promotions of one dataset run one after the other.
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        current = production_stage(dataset)
        previous = current.model if current else None
        if previous is not None and previous.pk == model.pk:
            raise PromotionRefused(f"{model.ref} is already in production for {dataset.slug}")
        gate: GateResult | None = None
        if previous is not None:
            gate = evaluate_gate(
                dataset=dataset,
                candidate=model,
                production=previous,
                comparison=comparison,
                metric=metric,
            )
            if not gate.passed:
                if not force:
                    raise PromotionRefused(gate.reason, gate.details)
                if not reason.strip():
                    raise PromotionRefused("an override needs a written reason", gate.details)
                if user is not None and not getattr(user, "is_staff", False):
                    raise PromotionRefused("only site staff may override the gate", gate.details)
        if current is not None:
            current.stage = StageName.ARCHIVED
            current.fraction = None
            current.since = timezone.now()
            current.save(update_fields=["stage", "fraction", "since"])
        # A canary of the promoted model ends with the promotion.
        _set_stage(dataset, model, StageName.PRODUCTION)
        forced = bool(gate is not None and not gate.passed)
        event = StageEvent.objects.create(
            dataset=dataset,
            action=StageAction.PROMOTE,
            model=model,
            previous=previous,
            comparison=gate.comparison if gate else None,
            forced=forced,
            reason=reason.strip(),
            details=(gate.details if gate else {"first_promotion": True}),
            actor=user if getattr(user, "is_authenticated", False) else None,
        )
        AuditEvent.record(
            actor=user,
            action="model.promote",
            obj=model,
            dataset=dataset,
            model=model.ref,
            previous=previous.ref if previous else None,
            comparison=gate.comparison.pk if gate and gate.comparison else None,
            forced=forced,
            reason=reason.strip(),
            gate=gate.reason if gate else "first promotion",
        )
        transaction.on_commit(lambda: _notify(event))
    return event


def previous_production(dataset: Dataset, current: Model) -> Model | None:
    """What production was before ``current`` was last promoted (rollback's target)."""
    event = (
        StageEvent.objects.filter(dataset=dataset, action=StageAction.PROMOTE, model=current)
        .select_related("previous")
        .first()
    )
    return event.previous if event else None


def rollback_production(*, dataset: Dataset, user: Any, reason: str = "") -> StageEvent:
    """Return production to the model it replaced, in one step."""
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        current = production_stage(dataset)
        if current is None:
            raise PromotionRefused(f"{dataset.slug} has no production model to roll back")
        target = previous_production(dataset, current.model)
        if target is None:
            raise PromotionRefused(
                f"{current.model.ref} was the first production model of {dataset.slug}: "
                "there is nothing to roll back to"
            )
        current.stage = StageName.ARCHIVED
        current.since = timezone.now()
        current.save(update_fields=["stage", "since"])
        _set_stage(dataset, target, StageName.PRODUCTION)
        event = StageEvent.objects.create(
            dataset=dataset,
            action=StageAction.ROLLBACK,
            model=target,
            previous=current.model,
            reason=reason.strip(),
            actor=user if getattr(user, "is_authenticated", False) else None,
        )
        AuditEvent.record(
            actor=user,
            action="model.rollback",
            obj=target,
            dataset=dataset,
            model=target.ref,
            previous=current.model.ref,
            reason=reason.strip(),
        )
        transaction.on_commit(lambda: _notify(event))
    return event


def start_canary(*, dataset: Dataset, model: Model, fraction: float, user: Any) -> StageEvent:
    if not 0 < fraction < 1:
        raise PromotionRefused("a canary's traffic fraction must be between 0 and 1 (say 0.05)")
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        production = production_stage(dataset)
        if production is None:
            raise PromotionRefused("promote a production model before starting a canary")
        if production.model_id == model.pk:
            raise PromotionRefused(f"{model.ref} is the production model")
        old = canary_stage(dataset)
        if old is not None and old.model_id != model.pk:
            old.stage, old.fraction, old.since = StageName.CANDIDATE, None, timezone.now()
            old.save(update_fields=["stage", "fraction", "since"])
        _set_stage(dataset, model, StageName.CANARY, fraction=fraction)
        event = StageEvent.objects.create(
            dataset=dataset,
            action=StageAction.CANARY_START,
            model=model,
            previous=old.model if old else None,
            fraction=fraction,
            actor=user if getattr(user, "is_authenticated", False) else None,
        )
        AuditEvent.record(
            actor=user,
            action="model.canary_start",
            obj=model,
            dataset=dataset,
            model=model.ref,
            fraction=fraction,
        )
    return event


def stop_canary(
    *,
    dataset: Dataset,
    user: Any,
    automatic: bool = False,
    details: dict[str, Any] | None = None,
) -> StageEvent | None:
    """End the canary (back to candidate); automatic when the feedback threshold tripped."""
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        canary = canary_stage(dataset)
        if canary is None:
            return None
        canary.stage, canary.fraction, canary.since = (
            StageName.CANDIDATE,
            None,
            timezone.now(),
        )
        canary.save(update_fields=["stage", "fraction", "since"])
        action = StageAction.CANARY_ROLLBACK if automatic else StageAction.CANARY_STOP
        event = StageEvent.objects.create(
            dataset=dataset,
            action=action,
            model=canary.model,
            details=details or {},
            actor=user if getattr(user, "is_authenticated", False) else None,
        )
        AuditEvent.record(
            actor=user,
            action=f"model.{action}",
            obj=canary.model,
            dataset=dataset,
            model=canary.model.ref,
            **({"feedback": details} if details else {}),
        )
        if automatic:
            transaction.on_commit(lambda: _notify(event))
    return event


def timeline(dataset: Dataset, *, limit: int = 100) -> list[StageEvent]:
    return list(
        StageEvent.objects.filter(dataset=dataset)
        .select_related("model", "previous", "actor", "comparison")
        .order_by("-created_at", "-id")[:limit]
    )
