"""The model registry: every model Curator can evaluate, with where it came from.

A row names a model the way its server knows it (``provider`` + ``name``) and, for a
fine-tune, its lineage: dataset version → fine-tune job → model. Fine-tuned models are
registered when their job succeeds; base models and endpoints when first evaluated.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

__all__ = ["Model", "ModelKind"]


class ModelKind(models.TextChoices):
    BASE = "base", "Base model"
    HOSTED_FINETUNE = "hosted_finetune", "Hosted fine-tune"
    LOCAL_ADAPTER = "local_adapter", "Local LoRA adapter"
    ENDPOINT = "endpoint", "Configured endpoint"


class ModelQuerySet(models.QuerySet):
    def usable_by(self, dataset: Any) -> ModelQuerySet:
        """Models a dataset may name: general ones (base models, endpoints), its own
        fine-tunes, and fine-tunes of other datasets shared with it by site staff."""
        return self.filter(
            Q(dataset__isnull=True) | Q(dataset=dataset) | Q(shared_with=dataset)
        ).distinct()


class Model(models.Model):
    kind = models.CharField(max_length=32, choices=ModelKind.choices)
    # A training provider's name ("openai", "simulator", "local") or an endpoint's name.
    provider = models.CharField(max_length=64)
    # What the server calls it: "gpt-4o-mini-2024-07-18", "ft:…", an adapter's storage prefix.
    name = models.CharField(max_length=300)
    label = models.CharField(max_length=300, blank=True)
    # Lineage of a fine-tune: the base it was trained from, on which version, by which job.
    base = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived"
    )
    dataset = models.ForeignKey(
        "curation.Dataset", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    version = models.ForeignKey(
        "curation.DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    job = models.OneToOneField(
        "training.FineTuneJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="registered_model",
    )
    # Local adapters: [{"name", "size", "sha256"?}] as the job stored them.
    files = models.JSONField(default=list, blank=True)
    is_simulated = models.BooleanField(default=False)
    # Datasets other than its own that may name this fine-tune (a staff action, audited).
    shared_with = models.ManyToManyField("curation.Dataset", blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelQuerySet.as_manager()

    class Meta:
        ordering = ["provider", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="unique_registry_model")
        ]

    def __str__(self) -> str:
        return self.label or self.ref

    @property
    def ref(self) -> str:
        """How the CLI names it (``evaluate --model REF``)."""
        if self.job_id:
            return f"job:{self.job_id}"
        if self.kind == ModelKind.ENDPOINT:
            return self.provider
        return f"{self.provider}:{self.name}"

    def usable_by(self, dataset: Any) -> bool:
        if self.dataset_id is None or self.dataset_id == getattr(dataset, "pk", None):
            return True
        return self.shared_with.filter(pk=dataset.pk).exists()

    @property
    def is_local(self) -> bool:
        return self.provider == "local" or self.kind == ModelKind.LOCAL_ADAPTER
