"""What serving code reads: the production model of a dataset, and its canary.

With a ``key`` (the caller's user or session id) the answer names the one model that
serves that key: the canary for a stable share of keys equal to its fraction, decided by a
hash of the dataset, the canary model and the key, so a user stays on one side for the
canary's life and every server decides alike."""

from __future__ import annotations

import hashlib
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


def canary_bucket(dataset: Dataset, canary: Model, key: str) -> float:
    """A number in [0, 1) fixed by (dataset, canary model, key)."""
    digest = hashlib.sha256(f"{dataset.pk}:{canary.pk}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def production_answer(dataset: Dataset, *, key: str | None = None) -> dict[str, Any] | None:
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
    stage = StageName.PRODUCTION
    if (
        key is not None
        and canary is not None
        and canary.fraction
        and canary_bucket(dataset, canary.model, key) < canary.fraction
    ):
        model, stage = canary.model, StageName.CANARY
    return {
        "model": model.name,
        "stage": str(stage),
        "provider": model.provider,
        "base_url": base_url_of(model),
        "version": model.version.number if model.version else None,
        "promoted_at": (event.created_at if event else production.since).isoformat(),
        "canary": ({"model": canary.model.name, "fraction": canary.fraction} if canary else None),
    }
