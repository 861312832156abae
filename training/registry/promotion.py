"""Promotion with a gate, rollback, and canaries: the only writers of model stages.

The gate applies one test, chosen before the comparison ran: the dataset's gate settings
(``manage.py gate`` or the registry page) name the evidence — the judge's verdicts, people's
blind verdicts, or one quality metric — the level and the fewest examples; a comparison
keeps the settings it was made under. The test asks whether the candidate is *better than*
production, one-sided at that level (``training.evaluation.stats``); failed examples are the
failing side's losses; people count once per example. Comparisons on the training split, on
fewer examples than the minimum, or of other models are refused with the reason. Every
attempt, passed or refused, is an audit event with its figures; a refusal changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from curation.models import AuditEvent, Dataset, JobStatus
from training.evaluation.metrics import GATE_METRICS, evidence_error
from training.evaluation.models import Comparison, EvalExample, EvalRun, ExampleStatus, Winner
from training.evaluation.services.comparisons import (
    comparison_summary,
    failure_outcomes,
    judge_per_example,
    people_per_example,
)
from training.evaluation.stats import paired_metric_test, win_test
from training.registry.models import Model
from training.registry.stages import (
    ModelStage,
    RegistrySettings,
    StageAction,
    StageEvent,
    StageName,
)
from training.registry.webhooks import queue_webhook

__all__ = ["GATE_METRICS", "GateResult", "PromotionRefused", "evaluate_gate", "promote_model"]


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
    """A judge/human tally seen from the candidate's side (shown, not the test)."""
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


def _count_wins(winners: dict[str, str], candidate_is_b: bool) -> dict[str, int]:
    mine, theirs = (Winner.B, Winner.A) if candidate_is_b else (Winner.A, Winner.B)
    values = list(winners.values())
    return {
        "wins": sum(1 for w in values if w == mine),
        "losses": sum(1 for w in values if w == theirs),
        "ties": sum(1 for w in values if w not in (mine, theirs)),
    }


def _metric_differences(production_run: EvalRun, candidate_run: EvalRun, name: str) -> list[float]:
    """Candidate minus production per example; a failed (or missing) answer scores 0, the
    worst value of every gate metric; examples the metric does not apply to are left out."""

    def values(run: EvalRun) -> dict[str, float | None]:
        found: dict[str, float | None] = {}
        for key, status, metrics, judge_mean in EvalExample.objects.filter(run=run).values_list(
            "key", "status", "metrics", "judge_mean"
        ):
            if status != ExampleStatus.OK:
                found[key] = 0.0
            else:
                value = judge_mean if name == "judge_mean" else (metrics or {}).get(name)
                found[key] = float(value) if value is not None else None
        return found

    old, new = values(production_run), values(candidate_run)
    differences = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, 0.0), new.get(key, 0.0)
        if before is None or after is None:
            continue  # the metric does not apply to this example (no tool call, no JSON…)
        differences.append(after - before)
    return differences


def _refuse(reason: str, comparison: Comparison | None, details: dict[str, Any]) -> GateResult:
    return GateResult(False, f"the gate refused: {reason}", comparison, details)


def evaluate_gate(
    *,
    dataset: Dataset,
    candidate: Model,
    production: Model,
    comparison: Comparison | None = None,
) -> GateResult:
    """Apply the comparison's pre-registered test: is the candidate better than production?"""
    if comparison is None:
        comparison = comparisons_between(dataset, candidate, production).first()
        if comparison is None:
            return GateResult(
                False,
                f"no finished comparison of {candidate.ref} with production ({production.ref}) "
                "on this dataset: evaluate both on the same eval set and compare them first",
            )
    gate = dict(comparison.gate or RegistrySettings.for_dataset(dataset).gate)
    details: dict[str, Any] = {"comparison": comparison.pk, "gate": gate}
    models = {comparison.run_a.model_id, comparison.run_b.model_id}
    if comparison.dataset_id != dataset.pk or models != {candidate.pk, production.pk}:
        return GateResult(
            False,
            f"comparison {comparison.pk} is not between {candidate.ref} and production "
            f"({production.ref}) on {dataset.slug}",
            comparison,
            details,
        )
    if comparison.status != JobStatus.SUCCEEDED:
        return GateResult(
            False, f"comparison {comparison.pk} is {comparison.status}", comparison, details
        )
    run_a, run_b = comparison.run_a, comparison.run_b
    if (run_a.version_id, run_a.split) != (run_b.version_id, run_b.split):
        return _refuse(
            f"comparison {comparison.pk} compares runs on different eval sets", comparison, details
        )
    details["eval_set"] = f"v{run_a.version.number} {run_a.split}"
    if run_a.split == "train":
        return _refuse(
            f"comparison {comparison.pk} is on the training split, which the fine-tune has "
            "seen; compare on the validation split",
            comparison,
            details,
        )
    evidence = str(gate.get("evidence", "judge"))
    problem = evidence_error(evidence)
    if problem:
        return _refuse(problem, comparison, details)
    level, minimum = float(gate.get("level", 0.05)), int(gate.get("min_examples", 30))
    candidate_is_b = run_b.model_id == candidate.pk
    summary = comparison_summary(comparison)
    details["judge"] = _candidate_view(summary["judge"], candidate_is_b)
    details["human"] = _candidate_view(summary["human"], candidate_is_b)
    details["failures"] = {
        "candidate_failed": summary["failures"]["b_failed" if candidate_is_b else "a_failed"],
        "production_failed": summary["failures"]["a_failed" if candidate_is_b else "b_failed"],
        "both_failed": summary["failures"]["both_failed"],
    }
    decided, _both = failure_outcomes(run_a, run_b)
    if evidence in ("judge", "people"):
        if evidence == "judge" and not comparison.judge_id:
            return _refuse(
                f"the gate's evidence is the judge, and comparison {comparison.pk} has no judge",
                comparison,
                details,
            )
        per_example = (
            judge_per_example(comparison)
            if evidence == "judge"
            else (people_per_example(comparison))
        )
        counts = _count_wins({**per_example, **decided} if per_example else decided, candidate_is_b)
        test = win_test(**counts, level=level)
        examples = test["examples"]
        figures = (
            f"{counts['wins']} wins, {counts['losses']} losses, {counts['ties']} ties "
            f"(failed examples count as losses), one-sided sign test p = {test['p_value']:.3g}"
        )
    else:
        name = evidence.removeprefix("metric:")
        production_run, candidate_run = (run_a, run_b) if candidate_is_b else (run_b, run_a)
        test = paired_metric_test(
            _metric_differences(production_run, candidate_run, name), level=level
        )
        examples = test["examples"]
        mean_difference = test["mean_difference"]
        figures = (
            f"{name}: mean difference "
            + (f"{mean_difference:+.3f}" if mean_difference is not None else "n/a")
            + f" over {examples} examples, {test['test']} p = {test['p_value']:.3g}"
        )
    details["evidence"] = evidence
    details["test"] = test
    if examples < minimum:
        return _refuse(
            f"comparison {comparison.pk} has {examples} examples with {evidence} evidence; "
            f"the gate decides on at least {minimum} (the dataset's gate settings)",
            comparison,
            details,
        )
    if test["better"]:
        return GateResult(
            True,
            f"better than production by {evidence} at level {level:g}: {figures}",
            comparison,
            details,
        )
    return _refuse(
        f"comparison {comparison.pk} on {details['eval_set']} does not show the candidate is "
        f"better than production at level {level:g} — {figures}",
        comparison,
        details,
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
    force: bool = False,
    reason: str = "",
) -> StageEvent:
    """Make ``model`` the dataset's production model, through the gate (or a staff override).

    Every attempt leaves a ``model.gate`` audit event with the gate's figures; a refused one
    is written after the refused transaction, so the refusal changes nothing else."""
    try:
        return _promote(
            dataset=dataset,
            model=model,
            user=user,
            comparison=comparison,
            force=force,
            reason=reason,
        )
    except PromotionRefused as refused:
        AuditEvent.record(
            actor=user,
            action="model.gate",
            obj=model,
            dataset=dataset,
            model=model.ref,
            passed=False,
            forced=force,
            reason=refused.reason,
            figures=refused.details,
        )
        raise


def _promote(
    *,
    dataset: Dataset,
    model: Model,
    user: Any,
    comparison: Comparison | None,
    force: bool,
    reason: str,
) -> StageEvent:
    if not model.usable_by(dataset):
        raise PromotionRefused(f"no model {model.ref!r} in {dataset.slug}")
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
        # A canary of the promoted model ends with the promotion, on the timeline too.
        canary = canary_stage(dataset)
        if canary is not None and canary.model_id == model.pk:
            StageEvent.objects.create(
                dataset=dataset,
                action=StageAction.CANARY_STOP,
                model=model,
                fraction=canary.fraction,
                reason="ended by promoting it to production",
                details={"ended_by": "promotion"},
                actor=user if getattr(user, "is_authenticated", False) else None,
            )
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
        AuditEvent.record(
            actor=user,
            action="model.gate",
            obj=model,
            dataset=dataset,
            model=model.ref,
            passed=bool(gate is None or gate.passed),
            forced=forced,
            reason=gate.reason if gate else "first promotion: there is nothing to compare with",
            figures=gate.details if gate else {},
        )
        transaction.on_commit(lambda: _notify(event))
    return event


def production_history(dataset: Dataset) -> list[Model]:
    """Production models as a stack: each promotion pushes, each rollback pops. Rolling
    back walks down it (v1 → v2 → v1 rolls back to v2, then to v1), never alternating."""
    stack: list[Model] = []
    for event in (
        StageEvent.objects.filter(
            dataset=dataset, action__in=[StageAction.PROMOTE, StageAction.ROLLBACK]
        )
        .select_related("model")
        .order_by("created_at", "id")
    ):
        if event.action == StageAction.PROMOTE and event.model is not None:
            stack.append(event.model)
        elif event.action == StageAction.ROLLBACK and stack:
            stack.pop()
    return stack


def previous_production(dataset: Dataset, current: Model) -> Model | None:
    """What a rollback returns to: the production model before ``current`` in the history."""
    stack = production_history(dataset)
    if not stack or stack[-1].pk != current.pk:
        return None
    return stack[-2] if len(stack) > 1 else None


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
    if not model.usable_by(dataset):
        raise PromotionRefused(f"no model {model.ref!r} in {dataset.slug}")
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
