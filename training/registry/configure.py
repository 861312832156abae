"""Saving a dataset's registry settings (thresholds, weekly retraining), audited."""

from __future__ import annotations

from typing import Any

from curation.models import AuditEvent, Dataset
from training.registry.retrain import ensure_retrain_schedule
from training.registry.stages import RegistrySettings


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
