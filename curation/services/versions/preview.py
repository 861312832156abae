"""Choosing a version's examples, previewing what a build would give, and queuing the build."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, Max, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, Least

from curation.models import (
    AuditEvent,
    Conversation,
    Dataset,
    DatasetVersion,
    ImportBatch,
    PricedMethod,
    PricedTrainingType,
    TrainingPrice,
    VersionFormat,
    VersionStatus,
)
from curation.models.preferences import RANKED
from curation.models.prices import estimate_cost
from curation.services.versions.files import VersionError
from curation.splits import is_validation_sql, validation_threshold
from curation.token_count import TOKENS_REPLY_PRIMING, count_conversations

# -- choosing examples ------------------------------------------------------------------


def normalize_filter(
    *,
    min_score: float | None = None,
    exclude_flags: list[str] | tuple[str, ...] = (),
    batches: list[int] | tuple[int, ...] = (),
) -> dict[str, Any]:
    """The filter as stored on a version and written to its manifest (approved only, always)."""
    return {
        "status": "approved",
        "min_score": float(min_score) if min_score is not None else None,
        "exclude_flags": sorted({str(flag) for flag in exclude_flags}),
        "batches": sorted({int(batch) for batch in batches}),
    }


def select_examples(
    *, dataset: Dataset, filter: dict[str, Any], format: str = VersionFormat.SFT
) -> QuerySet[Conversation]:
    """The approved conversations of the dataset that pass the filter (for a preference
    version, those with a ranked pair that is not unticked)."""
    conversations = Conversation.objects.filter(dataset=dataset).approved()
    if format == VersionFormat.PREFERENCE:
        conversations = conversations.filter(preference__active=True, preference__choice__in=RANKED)
    if filter.get("min_score") is not None:
        conversations = conversations.filter(score_avg__gte=filter["min_score"])
    if filter.get("exclude_flags"):
        conversations = conversations.exclude(flags__overlap=list(filter["exclude_flags"]))
    if filter.get("batches"):
        conversations = conversations.filter(batch_id__in=list(filter["batches"]))
    return conversations


def default_seed(dataset: Dataset) -> int:
    """The previous version's seed, so that examples keep their split from version to version."""
    latest = dataset.versions.exclude(status=VersionStatus.FAILED).order_by("-number").first()
    return latest.seed if latest else 0


def system_prompt_tokens(prompt: str) -> int:
    """Tokens one system message with this prompt adds to an example."""
    if not prompt:
        return 0
    [(tokens, _)] = count_conversations([([{"role": "system", "content": prompt}], None)])
    return tokens - TOKENS_REPLY_PRIMING


@dataclass
class Preview:
    examples: int
    train: int
    validation: int
    total_tokens: int
    assistant_tokens: int
    train_tokens: int
    prepended: int
    prompt_tokens: int
    estimates: list[dict[str, Any]] = field(default_factory=list)


def preview_version(
    *,
    dataset: Dataset,
    filter: dict[str, Any],
    validation_fraction: float,
    seed: int,
    prepend_system_prompt: bool = True,
    format: str = VersionFormat.SFT,
) -> Preview:
    """Counts, token totals and cost estimates for a version, in one aggregate query."""
    threshold = validation_threshold(validation_fraction)
    prompt = dataset.system_prompt if prepend_system_prompt else ""
    prompt_tokens = system_prompt_tokens(prompt)
    # One estimate per model: the rate of this version's method, LoRA (the usual default).
    method = PricedMethod.DPO if format == VersionFormat.PREFERENCE else PricedMethod.SUPERVISED
    prices = list(
        TrainingPrice.objects.seeded().filter(method=method, training_type=PricedTrainingType.LORA)
    )
    limits = sorted({price.token_limit for price in prices})
    # The prompt is added to examples flagged as having no system message at import.
    lacks_system = Q(flags__contains=["no_system_message"])
    tokens = F("token_count") + Case(
        When(lacks_system, then=Value(prompt_tokens)), default=Value(0)
    )
    train = Q(in_validation=False)
    aggregates: dict[str, Any] = {
        "examples": Count("id"),
        "validation": Count("id", filter=Q(in_validation=True)),
        "total_tokens": Coalesce(Sum(tokens), 0),
        "assistant_tokens": Coalesce(Sum("assistant_tokens"), 0),
        "train_tokens": Coalesce(Sum(tokens, filter=train), 0),
    }
    if prompt:
        aggregates["prepended"] = Count("id", filter=lacks_system)
    for limit in limits:
        aggregates[f"capped_{limit}"] = Coalesce(Sum(Least(tokens, Value(limit)), filter=train), 0)
    row = (
        select_examples(dataset=dataset, filter=filter, format=format)
        .annotate(in_validation=is_validation_sql(seed=seed, threshold=threshold))
        .aggregate(**aggregates)
    )
    preview = Preview(
        examples=row["examples"],
        train=row["examples"] - row["validation"],
        validation=row["validation"],
        total_tokens=row["total_tokens"],
        assistant_tokens=row["assistant_tokens"],
        train_tokens=row["train_tokens"],
        prepended=row.get("prepended", 0),
        prompt_tokens=prompt_tokens,
    )
    for price in prices:
        estimate = estimate_cost(
            price=price, examples=preview.train, capped_tokens=row[f"capped_{price.token_limit}"]
        ).as_dict()
        preview.estimates.append(
            {"price": price, "is_dataset_model": price.model == dataset.base_model, **estimate}
        )
    preview.estimates.sort(
        key=lambda item: (not item["is_dataset_model"], item["price"].provider, item["price"].model)
    )
    return preview


# -- creating and building ----------------------------------------------------------------


def create_version(
    *,
    dataset: Dataset,
    user: Any,
    filter: dict[str, Any],
    validation_fraction: float | None = None,
    seed: int | None = None,
    notes: str = "",
    prepend_system_prompt: bool = True,
    enqueue: bool = True,
    format: str = VersionFormat.SFT,
) -> DatasetVersion:
    """Number a new version and queue its build; VersionError if no example would be in it."""
    if validation_fraction is None:
        validation_fraction = settings.CURATOR_VALIDATION_FRACTION
    try:
        validation_threshold(validation_fraction)
    except ValueError as error:
        raise VersionError(f"validation fraction {validation_fraction}: {error}") from None
    if seed is None:
        seed = default_seed(dataset)
    if filter.get("batches"):
        known = set(
            ImportBatch.objects.filter(dataset=dataset, pk__in=filter["batches"]).values_list(
                "pk", flat=True
            )
        )
        unknown = sorted(set(filter["batches"]) - known)
        if unknown:
            raise VersionError(f"no import batch {unknown[0]} in dataset {dataset.slug!r}")
    if format not in VersionFormat.values:
        raise VersionError(f"unknown version format {format!r}; use one of {VersionFormat.values}")
    if not select_examples(dataset=dataset, filter=filter, format=format).exists():
        what = "preference pair" if format == VersionFormat.PREFERENCE else "example"
        raise VersionError(f"no approved {what} of dataset {dataset.slug!r} matches the filter")
    prompt = dataset.system_prompt if prepend_system_prompt else ""
    # Counted here, once, so the build never loads the tokenizer.
    prompt_tokens = system_prompt_tokens(prompt)
    with transaction.atomic():
        # Lock the dataset row so two admins never get the same number.
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        last = dataset.versions.aggregate(last=Max("number"))["last"] or 0
        version = DatasetVersion.objects.create(
            dataset=dataset,
            number=last + 1,
            notes=notes.strip(),
            filter=filter,
            validation_fraction=validation_fraction,
            seed=seed,
            prepend_system_prompt=bool(prompt),
            system_prompt=prompt,
            system_prompt_tokens=prompt_tokens,
            format=format,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        AuditEvent.record(
            actor=user,
            action="version.create",
            obj=version,
            dataset=dataset,
            number=version.number,
            filter=filter,
            validation_fraction=validation_fraction,
            seed=seed,
        )
        if enqueue:
            version.enqueue()
    return version
