from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from curation.models.datasets import Dataset
from curation.models.jobs import Job


class ImportFormat(models.TextChoices):
    AUTO = "auto", "Detect automatically"
    OPENAI = "openai", "OpenAI chat JSONL"
    PROMPT_COMPLETION = "prompt_completion", "OpenAI prompt/completion JSONL"
    SHAREGPT = "sharegpt", "ShareGPT (JSON or JSONL)"
    ALPACA = "alpaca", "Alpaca (JSON or JSONL)"
    CSV = "csv", "CSV"


def import_upload_path(instance: ImportBatch, filename: str) -> str:
    return f"imports/{instance.dataset_id}/{filename}"


class ImportBatch(Job):
    """One uploaded file and the background job that imports it."""

    job_function = "curation.jobs.run_import"
    queue_name = "default"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to=import_upload_path, max_length=500)
    original_name = models.CharField(max_length=255)
    format = models.CharField(
        max_length=32, choices=ImportFormat.choices, default=ImportFormat.AUTO
    )
    detected_format = models.CharField(max_length=32, choices=ImportFormat.choices, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)

    read = models.PositiveIntegerField("records read", default=0)
    imported = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"{self.original_name} → {self.dataset}"

    def get_absolute_url(self) -> str:
        return reverse("import_detail", args=[self.dataset.slug, self.pk])

    @property
    def format_label(self) -> str:
        return ImportFormat(self.detected_format or self.format).label

    def as_summary(self) -> dict[str, object]:
        """The CLI's `--json` contract (DESIGN.md)."""
        return {
            "batch": self.pk,
            "status": self.status,
            "read": self.read,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "warnings": self.warnings,
            "errors": [
                {"line": error.line, "field": error.field, "reason": error.reason}
                for error in self.line_errors.all()[:1000]
            ],
        }


class ImportLineError(models.Model):
    """A record of the file that was not imported, and why. Nothing else of the file is lost."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="line_errors")
    line = models.PositiveIntegerField()
    field = models.CharField(max_length=200, blank=True)
    reason = models.TextField()

    class Meta:
        ordering = ["line", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "line"], name="one_error_per_line")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
