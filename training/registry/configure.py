"""Saving a dataset's registry settings (thresholds, weekly retraining), audited."""

from __future__ import annotations

from typing import Any

from curation.models import AuditEvent, Dataset
from training.evaluation.metrics import evidence_error
from training.registry.retrain import ensure_retrain_schedule
from training.registry.stages import MAX_GATE_LEVEL, MIN_GATE_EXAMPLES, RegistrySettings


class GateSettingsError(ValueError):
    """Gate settings that cannot be used; the message says why."""


def registry_settings_update(*, dataset: Dataset, form: Any, user: Any) -> RegistrySettings:
    """Save a valid RegistrySettingsForm; keep the weekly retraining check scheduled."""
    saved: RegistrySettings = form.save()
    AuditEvent.record(
        actor=user,
        action="registry.settings",
        obj=saved,
        dataset=dataset,
        **{name: str(form.cleaned_data[name]) for name in form.changed_data},
    )
    if saved.retrain_weekly:
        ensure_retrain_schedule()
    return saved


def gate_settings_update(
    *,
    dataset: Dataset,
    evidence: str,
    level: float | None = None,
    min_examples: int | None = None,
    user: Any = None,
) -> RegistrySettings:
    """Pre-register the gate's test for the dataset's next comparisons (audited)."""
    problem = evidence_error(evidence)
    if problem:
        raise GateSettingsError(problem)
    if level is not None and not 0 < level <= MAX_GATE_LEVEL:
        raise GateSettingsError(f"--level must be above 0 and at most {MAX_GATE_LEVEL}")
    if min_examples is not None and min_examples < MIN_GATE_EXAMPLES:
        raise GateSettingsError(f"--min-examples must be at least {MIN_GATE_EXAMPLES}")
    saved, _ = RegistrySettings.objects.get_or_create(dataset=dataset)
    before = saved.gate
    saved.gate_evidence = evidence
    if level is not None:
        saved.gate_level = level
    if min_examples is not None:
        saved.gate_min_examples = min_examples
    saved.save()
    AuditEvent.record(
        actor=user,
        action="registry.gate",
        obj=saved,
        dataset=dataset,
        before=before,
        after=saved.gate,
    )
    return saved
