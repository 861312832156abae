"""What the JSON API remembers: ingest requests, so an Idempotency-Key replays its answer."""

from __future__ import annotations

from django.db import models

from curation.models.access_tokens import AccessToken
from curation.models.datasets import Dataset
from curation.models.imports import ImportBatch

__all__ = ["IngestRequest"]


class IngestRequest(models.Model):
    """One `POST /api/v1/datasets/<slug>/conversations`: its batch and the answer it got.

    The batch marks its conversations as ingested (production traffic) rather than uploaded.
    With an Idempotency-Key, a retry of the same request gets the stored answer back.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="ingests")
    token = models.ForeignKey(AccessToken, null=True, on_delete=models.SET_NULL, related_name="+")
    batch = models.OneToOneField(
        ImportBatch, null=True, on_delete=models.CASCADE, related_name="ingest_request"
    )
    idempotency_key = models.CharField(max_length=200, blank=True)
    body_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="one_ingest_per_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"Ingest {self.pk} into {self.dataset_id}"
