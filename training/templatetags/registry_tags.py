"""The registry's panel on the dataset dashboard: production feedback and drift warnings."""

from __future__ import annotations

from typing import Any

from django import template

from training.registry.drift import dashboard_warnings
from training.registry.feedback import feedback_counts
from training.registry.promotion import production_stage

register = template.Library()


@register.inclusion_tag("training/registry/_dashboard_panel.html")
def registry_panel(dataset: Any) -> dict[str, Any]:
    counts = feedback_counts(dataset)
    production = production_stage(dataset)
    return {
        "dataset": dataset,
        "feedback": counts,
        "production": production.model if production else None,
        "warnings": dashboard_warnings(dataset) if counts["ingested"] else [],
    }
