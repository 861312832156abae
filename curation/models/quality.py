from __future__ import annotations

from django.db import models

from curation.models.datasets import Dataset
from curation.models.imports import ImportBatch
from curation.models.jobs import Job


class QualityRun(Job):
    """Quality signals, search vectors and near-duplicate clusters for newly imported rows.

    Runs after the import job as its own job so that an import ends as soon as its rows are in.
    """

    job_function = "curation.jobs.run_quality"
    queue_name = "default"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="quality_runs")
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="quality_runs"
    )
    clusters = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Quality run {self.pk} on {self.dataset}"
