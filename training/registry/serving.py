"""What serving code reads: the production model of a dataset, and its canary."""

from __future__ import annotations

from typing import Any

from curation.models import Dataset
from training.evaluation.client import EndpointNotConfigured, endpoint_for
from training.registry.models import Model
from training.registry.stages import ModelStage, StageAction, StageEvent, StageName


def base_url_of(model: Model) -> str | None:
    try:
        return endpoint_for(model).url
    except EndpointNotConfigured:
        return None


def production_answer(dataset: Dataset) -> dict[str, Any] | None:
    """`GET /api/v1/datasets/<slug>/production-model`, or None when nothing is promoted."""
    stages = {
        stage.stage: stage
        for stage in ModelStage.objects.select_related("model", "model__version").filter(
            dataset=dataset, stage__in=[StageName.PRODUCTION, StageName.CANARY]
        )
    }
    production = stages.get(StageName.PRODUCTION)
    if production is None:
        return None
    model = production.model
    event = (
        StageEvent.objects.filter(
            dataset=dataset,
            model=model,
            action__in=[StageAction.PROMOTE, StageAction.ROLLBACK],
        )
        .only("created_at")
        .first()
    )
    canary = stages.get(StageName.CANARY)
    return {
        "model": model.name,
        "provider": model.provider,
        "base_url": base_url_of(model),
        "version": model.version.number if model.version else None,
        "promoted_at": (event.created_at if event else production.since).isoformat(),
        "canary": ({"model": canary.model.name, "fraction": canary.fraction} if canary else None),
    }
