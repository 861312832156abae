"""Registering models and resolving the names people and scripts give them (REFs).

REF forms (``manage.py evaluate --model REF``):

- ``job:<id>`` — the model a fine-tune job produced (registered when the job succeeded);
- ``<provider>:<model>`` — a model answered by a configured training provider's endpoint
  (``openai:gpt-4o-mini-2024-07-18``, answered by the simulator when no key is set), or one
  the registry already holds; ``openai:<model>`` also works when no provider is named
  "openai", through ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``;
- ``local:<base or adapter>`` — a local base model (HF id or directory) or an adapter prefix;
- ``<endpoint name>`` — one of ``CURATOR_EVAL_ENDPOINTS``.

Every REF is resolved *for a dataset* (``resolve_model(ref, dataset=…)``): the API, the
forms, evaluations, judges, pre-scores, retraining, promotion and the lineage pages all go
through here. A fine-tune of another dataset is "not found" unless site staff shared it
with this one (``model_share``, audited), so its name, lineage and cost stay in its dataset.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from curation.models import AuditEvent, Dataset, JobStatus
from training.models import FineTuneJob
from training.providers import ProviderNotConfigured, provider_configs
from training.registry.models import Model, ModelKind
from training.registry.stages import ModelStage, StageName

LOCAL = "local"
# Model.name holds 300 characters; a REF adds at most a provider's name and a colon.
MAX_REF_LENGTH = 300
_JOB_NUMBER = re.compile(r"[0-9]{1,18}")


class UnknownModel(ValueError):
    """A REF that names no model Curator can call; the message says what was expected."""


class ShareRefused(ValueError):
    """Sharing a model that cannot be shared as asked; the message says why."""


def endpoint_configs() -> dict[str, dict[str, Any]]:
    return {
        entry["name"]: entry
        for entry in getattr(settings, "CURATOR_EVAL_ENDPOINTS", [])
        if isinstance(entry, dict) and entry.get("name")
    }


def register_finetuned_model(*, job: FineTuneJob) -> Model | None:
    """Register the model a succeeded job produced, with its lineage (idempotent)."""
    if job.status != JobStatus.SUCCEEDED or not job.fine_tuned_model:
        return None
    local = job.is_local
    base, _ = Model.objects.get_or_create(
        provider=job.provider,
        name=job.base_model,
        defaults={"kind": ModelKind.BASE, "is_simulated": job.provider_is_simulator},
    )
    model, created = Model.objects.get_or_create(
        provider=LOCAL if local else job.provider,
        name=job.fine_tuned_model,
        defaults={
            "kind": ModelKind.LOCAL_ADAPTER if local else ModelKind.HOSTED_FINETUNE,
            "label": f"{job.dataset.slug} v{job.version.number} fine-tune #{job.pk}",
            "base": base,
            "dataset_id": job.dataset_id,
            "version_id": job.version_id,
            "job": job,
            "files": list((job.artifacts or {}).get("files", [])) if local else [],
            "is_simulated": job.provider_is_simulator,
        },
    )
    if created:
        AuditEvent.record(
            actor=None,
            action="model.register",
            obj=model,
            dataset=job.dataset,
            job=job.pk,
            model=model.name,
        )
    return model


def _provider_model(provider: str, name: str) -> Model:
    known = {config.name: config for config in provider_configs()}
    if provider == LOCAL:
        kind = (
            ModelKind.LOCAL_ADAPTER
            if Model.objects.filter(
                provider=LOCAL, name=name, kind=ModelKind.LOCAL_ADAPTER
            ).exists()
            else ModelKind.BASE
        )
        model, _ = Model.objects.get_or_create(provider=LOCAL, name=name, defaults={"kind": kind})
        return model
    registered = Model.objects.filter(provider=provider, name=name).first()
    if registered is not None:
        return registered
    if provider not in known and provider != "openai":
        names = ", ".join(sorted({*known, "openai", LOCAL, *endpoint_configs()}))
        raise UnknownModel(f"no provider or endpoint named {provider!r} (known: {names})")
    config = known.get(provider)
    model, _ = Model.objects.get_or_create(
        provider=provider,
        name=name,
        defaults={
            "kind": ModelKind.HOSTED_FINETUNE if name.startswith("ft:") else ModelKind.BASE,
            "is_simulated": bool(config and config.is_simulator),
        },
    )
    return model


def ensure_usable(model: Model, dataset: Dataset, ref: str | None = None) -> Model:
    """``model`` if the dataset may name it, else the same "not found" as a REF naming
    nothing (no hint that another dataset has such a model)."""
    if not model.usable_by(dataset):
        raise UnknownModel(f"no model {ref or model.ref!r} in {dataset.slug}")
    return model


def resolve_model(ref: str, *, dataset: Dataset) -> Model:
    """The registry row a REF names for ``dataset``, registering base models and endpoints
    on first use; UnknownModel (a 4xx, never a 500) for anything else."""
    ref = ref.strip()
    if not ref:
        raise UnknownModel("empty model reference")
    if len(ref) > MAX_REF_LENGTH:
        raise UnknownModel(
            f"a model reference is at most {MAX_REF_LENGTH} characters (this one has {len(ref)})"
        )
    if ref.startswith("job:"):
        number = ref.removeprefix("job:")
        job = (
            FineTuneJob.objects.filter(pk=int(number)).first()
            if _JOB_NUMBER.fullmatch(number)
            else None
        )
        if job is None or (
            job.dataset_id != dataset.pk
            and not Model.objects.filter(job=job, shared_with=dataset).exists()
        ):
            raise UnknownModel(f"no fine-tune job {number!r} in {dataset.slug}")
        model = Model.objects.filter(job=job).first() or register_finetuned_model(job=job)
        if model is None:
            raise UnknownModel(f"fine-tune job {job.pk} is {job.status} and produced no model yet")
        return ensure_usable(model, dataset, ref)
    endpoints = endpoint_configs()
    if ref in endpoints:
        entry = endpoints[ref]
        model, _ = Model.objects.get_or_create(
            provider=ref,
            name=str(entry.get("model", "")),
            defaults={"kind": ModelKind.ENDPOINT, "label": entry.get("label") or ref},
        )
        return model
    provider, sep, name = ref.partition(":")
    if not sep or not name:
        raise UnknownModel(
            f"{ref!r} is not a model reference: use job:<id>, <provider>:<model>, "
            "local:<model or adapter> or a configured endpoint's name"
        )
    return ensure_usable(_provider_model(provider, name), dataset, ref)


def model_choices(dataset: Dataset) -> list[tuple[str, str]]:
    """REFs to offer on the dataset's forms: the models it may name, then each provider's
    base models and the configured endpoints."""
    choices: dict[str, str] = {}
    for model in Model.objects.usable_by(dataset).order_by("kind", "provider", "name"):
        choices[model.ref] = f"{model.get_kind_display()}: {model.label or model.name}"
    try:
        configs = provider_configs()
    except ProviderNotConfigured:
        configs = []
    for config in configs:
        if config.kind == LOCAL:
            continue
        for name in config.models:
            choices.setdefault(f"{config.name}:{name}", f"Base model: {config.label} {name}")
    for name, entry in endpoint_configs().items():
        choices.setdefault(name, f"Endpoint: {entry.get('label') or name}")
    return list(choices.items())


def model_share(*, model: Model, dataset: Dataset, user: Any) -> Model:
    """Let ``dataset`` name another dataset's fine-tune (site staff only, audited)."""
    if user is not None and not getattr(user, "is_staff", False):
        raise ShareRefused("only site staff may share a model with another dataset")
    if model.dataset_id is None or model.dataset_id == dataset.pk:
        raise ShareRefused(f"{model.ref} needs no sharing: {dataset.slug} may already name it")
    model.shared_with.add(dataset)
    AuditEvent.record(
        actor=user,
        action="model.share",
        obj=model,
        dataset=dataset,
        model=model.ref,
        owner=model.dataset.slug if model.dataset else None,
    )
    return model


def production_model_id(dataset: Dataset) -> int | None:
    """The id of the dataset's production model (None before the first promotion)."""
    return (
        ModelStage.objects.filter(dataset=dataset, stage=StageName.PRODUCTION)
        .values_list("model_id", flat=True)
        .first()
    )
