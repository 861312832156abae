"""Feedback on production traffic: negative-feedback rates per model with intervals, the
canary against production, and the automatic canary rollback.

Ingested conversations keep the API's feedback fields in their metadata (as a file import
keeps extra keys): ``feedback`` (``up``/``down``), ``score``, and ``model`` (who answered).
A conversation is rated when it has either; negative when thumbs down or score ≤ 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from curation.models import AccessToken, Conversation, Dataset
from curation.services.ingest import IngestBody, IngestResult, ingest_conversations
from training.evaluation.metrics import wilson_interval
from training.evaluation.stats import canary_look_level, canary_looks_due, newcombe_difference
from training.registry.promotion import canary_stage, production_stage, stop_canary
from training.registry.stages import ModelStage, RegistrySettings, StageEvent

NEGATIVE_SCORE = 2
# A score counts only when it is a number: jsonb orders null and strings below every number
# and booleans above, so the two bounds keep numbers alone ("score": null is no rating).
NUMERIC_SCORE = Q(metadata__score__gte=-1e300) & Q(metadata__score__lte=1e300)
RATED = Q(metadata__feedback__in=["up", "down"]) | NUMERIC_SCORE
NEGATIVE = Q(metadata__feedback="down") | (NUMERIC_SCORE & Q(metadata__score__lte=NEGATIVE_SCORE))


def ingested(dataset: Dataset) -> QuerySet[Conversation]:
    """Conversations that came in through the ingest API (production traffic)."""
    return Conversation.objects.filter(dataset=dataset, batch__ingest_request__isnull=False)


def settings_for(dataset: Dataset) -> RegistrySettings:
    return RegistrySettings.for_dataset(dataset)


def rate(negative: int, rated: int) -> dict[str, Any]:
    interval = wilson_interval(negative, rated) if rated else None
    return {
        "rated": rated,
        "negative": negative,
        "rate": negative / rated if rated else None,
        "ci95": list(interval) if interval else None,
    }


def model_rates(
    dataset: Dataset, names: list[str], *, since: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Negative-feedback rate of the conversations each named model answered."""
    rows = ingested(dataset).filter(RATED, metadata__model__in=names)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    counts: dict[str, Mapping[str, Any]] = {
        row["metadata__model"]: row
        for row in rows.values("metadata__model").annotate(
            rated=Count("id"), negative=Count("id", filter=NEGATIVE)
        )
    }
    return {
        name: rate(counts.get(name, {}).get("negative", 0), counts.get(name, {}).get("rated", 0))
        for name in names
    }


def difference_interval(
    first: dict[str, Any], second: dict[str, Any], *, confidence: float = 0.95
) -> list[float] | None:
    """Interval of first.rate - second.rate (Newcombe's method from Wilson intervals)."""
    if not first["rated"] or not second["rated"]:
        return None
    low, high = newcombe_difference(
        first["negative"], first["rated"], second["negative"], second["rated"], confidence
    )
    return [float(low), float(high)]


def canary_report(dataset: Dataset) -> dict[str, Any] | None:
    """Canary vs production on negative feedback since the canary started."""
    canary = canary_stage(dataset)
    production = production_stage(dataset)
    if canary is None or production is None:
        return None
    rates = model_rates(dataset, [canary.model.name, production.model.name], since=canary.since)
    canary_rate, production_rate = rates[canary.model.name], rates[production.model.name]
    settings = settings_for(dataset)
    return {
        "canary": {"model": canary.model.name, "ref": canary.model.ref, **canary_rate},
        "production": {
            "model": production.model.name,
            "ref": production.model.ref,
            **production_rate,
        },
        "fraction": canary.fraction,
        "since": canary.since.isoformat(),
        "difference_ci95": difference_interval(canary_rate, production_rate),
        "threshold": settings.canary_max_excess,
        "min_feedback": settings.canary_min_feedback,
    }


def check_canary(*, dataset: Dataset) -> StageEvent | None:
    """Roll the canary back when it is worse than production by more than the admin's
    threshold, by a sequential rule that holds the false-rollback rate at its setting.

    Looks happen when the smaller side reaches ``canary_min_feedback`` rated conversations,
    then twice, four times that…; look k tests one-sided at level/2^k (the lower end of
    Newcombe's interval at confidence 1 - 2·level/2^k above the threshold), so all looks
    together spend at most ``canary_false_rollback_rate``. Re-testing after every ingest at
    95 % rolled back about one canary in five that was no worse."""
    settings = settings_for(dataset)
    if settings.canary_max_excess is None:
        return None
    canary = canary_stage(dataset)
    report = canary_report(dataset)
    if report is None or canary is None:
        return None
    enough = min(report["canary"]["rated"], report["production"]["rated"])
    due = canary_looks_due(enough, settings.canary_min_feedback)
    if due <= canary.canary_looks:
        return None
    ModelStage.objects.filter(pk=canary.pk).update(canary_looks=due)
    level = canary_look_level(due, settings.canary_false_rollback_rate)
    interval = difference_interval(report["canary"], report["production"], confidence=1 - 2 * level)
    report.update(look=due, look_level=level, difference_ci95=interval)
    if interval is None or interval[0] <= settings.canary_max_excess:
        return None
    return stop_canary(dataset=dataset, user=None, automatic=True, details=report)


def feedback_counts(dataset: Dataset) -> dict[str, int]:
    """For the dashboard: ingested conversations, rated, thumbs down, score ≤ 2."""
    return ingested(dataset).aggregate(
        ingested=Count("id"),
        rated=Count("id", filter=RATED),
        thumbs_down=Count("id", filter=Q(metadata__feedback="down")),
        low_score=Count("id", filter=NUMERIC_SCORE & Q(metadata__score__lte=NEGATIVE_SCORE)),
    )


def ingest_production_conversations(
    *, dataset: Dataset, token: AccessToken, body: IngestBody, idempotency_key: str = ""
) -> IngestResult:
    """The ingest API's service: import like a file, then check the canary's feedback."""
    result = ingest_conversations(
        dataset=dataset, token=token, body=body, idempotency_key=idempotency_key
    )
    if not result.replayed and result.body.get("imported"):
        check_canary(dataset=dataset)
    return result
