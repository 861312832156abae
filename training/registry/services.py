"""Registering models and resolving the names people and scripts give them (REFs).

REF forms (``manage.py evaluate --model REF``):

- ``job:<id>`` — the model a fine-tune job produced (registered when the job succeeded);
- ``<provider>:<model>`` — a model answered by a configured training provider's endpoint
  (``openai:gpt-4o-mini-2024-07-18``, answered by the simulator when no key is set), or one
  the registry already holds; ``openai:<model>`` also works when no provider is named
  "openai", through ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``;
- ``local:<base or adapter>`` — a local base model (HF id or directory) or an adapter prefix;
- ``<endpoint name>`` — one of ``CURATOR_EVAL_ENDPOINTS``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from curation.models import AuditEvent, JobStatus
from training.models import FineTuneJob
from training.providers import ProviderNotConfigured, provider_configs
from training.registry.models import Model, ModelKind

LOCAL = "local"


class UnknownModel(ValueError):
    """A REF that names no model Curator can call; the message says what was expected."""


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


def resolve_model(ref: str) -> Model:
    """The registry row a REF names, registering base models and endpoints on first use."""
    ref = ref.strip()
    if not ref:
        raise UnknownModel("empty model reference")
    if ref.startswith("job:"):
        number = ref.removeprefix("job:")
        job = FineTuneJob.objects.filter(pk=int(number)).first() if number.isdigit() else None
        if job is None:
            raise UnknownModel(f"no fine-tune job {number!r}")
        model = Model.objects.filter(job=job).first() or register_finetuned_model(job=job)
        if model is None:
            raise UnknownModel(f"fine-tune job {job.pk} is {job.status} and produced no model yet")
        return model
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
    return _provider_model(provider, name)


def model_choices() -> list[tuple[str, str]]:
    """REFs to offer on the run form: registered models, then each provider's base models."""
    choices: dict[str, str] = {}
    for model in Model.objects.select_related("dataset").order_by("kind", "provider", "name"):
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
