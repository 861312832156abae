from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from curation.models.datasets import Dataset
from curation.models.jobs import Job, JobStatus


class ImportFormat(models.TextChoices):
    AUTO = "auto", "Detect automatically"
    OPENAI = "openai", "OpenAI chat JSONL"
    PROMPT_COMPLETION = "prompt_completion", "OpenAI prompt/completion JSONL"
    SHAREGPT = "sharegpt", "ShareGPT (JSON or JSONL)"
    ALPACA = "alpaca", "Alpaca (JSON or JSONL)"
    CSV = "csv", "CSV"
    PREFERENCE = "preference", "Preference pairs / labelled replies (DPO, KTO)"


class ImportOutcome(models.TextChoices):
    """What an import achieved, beside whether its job ran (the job's status)."""

    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Succeeded with rejected lines"
    FAILED = "failed", "Failed: nothing imported"


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
    outcome = models.CharField(max_length=16, choices=ImportOutcome.choices, blank=True)
    # What the numbers of its records and rejected lines count: lines of a JSONL or CSV file,
    # or items of a JSON array (a one-line array would give every item line 1).
    numbered_by = models.CharField(
        max_length=8, choices=[("line", "line"), ("item", "item")], default="line"
    )
    # Record-level keys with no mapping, kept as conversation metadata: {key: lines with it}.
    unmapped_fields = models.JSONField(default=dict, blank=True)
    # Rejected lines past CURATOR_IMPORT_MAX_STORED_ERRORS, not stored: {reason: count}, with
    # the line's numbers (line, column, offset) written as N so that alike reasons add up.
    errors_not_stored = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"{self.original_name} → {self.dataset}"

    def get_absolute_url(self) -> str:
        return reverse("import_detail", args=[self.dataset.slug, self.pk])

    @property
    def format_label(self) -> str:
        if self.format == ImportFormat.AUTO and not self.detected_format:
            return "Being detected…" if self.is_active else "Not recognised"
        return ImportFormat(self.detected_format or self.format).label

    def final_outcome(self) -> str:
        """The outcome of a finished job from its counters. Only input that could not be read,
        or whose every record was invalid, fails: a re-import whose records are all already in
        the dataset succeeded with nothing new (a nightly import of an unchanged file)."""
        if self.status == JobStatus.FAILED or not (self.imported or self.duplicates):
            return ImportOutcome.FAILED
        return ImportOutcome.PARTIAL if self.invalid else ImportOutcome.SUCCEEDED

    @property
    def outcome_message(self) -> str:
        """One line saying what the import achieved, for the pages and the CLI."""
        if not self.outcome:
            return ""
        if self.outcome == ImportOutcome.SUCCEEDED and not self.imported:
            return (
                f"{self.original_name}: nothing new: all {self.duplicates:,} are already "
                "in the dataset"
            )
        if self.outcome == ImportOutcome.SUCCEEDED:
            return f"{self.original_name}: {self.imported:,} imported" + self._duplicates_note
        if self.outcome == ImportOutcome.PARTIAL:
            return (
                f"{self.original_name}: {self.imported:,} imported, "
                f"{self.invalid:,} lines rejected (listed with their reasons)"
                + self._duplicates_note
            )
        if self.status == JobStatus.FAILED and self.error:
            return self.error
        if not self.read:
            return f"{self.original_name}: nothing imported: the file holds no records"
        parts = []
        if self.invalid:
            parts.append(f"{self.invalid:,} of {self.read:,} lines are invalid")
        if self.duplicates:
            parts.append(f"{self.duplicates:,} are duplicates of conversations already imported")
        return f"{self.original_name}: nothing imported: " + "; ".join(parts)

    @property
    def _duplicates_note(self) -> str:
        return f", {self.duplicates:,} already in the dataset" if self.duplicates else ""

    @property
    def not_stored_count(self) -> int:
        return sum(self.errors_not_stored.values())

    @property
    def not_stored_list(self) -> list[tuple[str, int]]:
        return sorted(self.errors_not_stored.items(), key=lambda item: (-item[1], item[0]))

    @property
    def unmapped_field_list(self) -> list[tuple[str, int]]:
        return sorted(self.unmapped_fields.items(), key=lambda item: (-item[1], item[0]))

    @property
    def preference_counts(self) -> dict[str, int]:
        """Preference data among the imported conversations (curation.models.preferences)."""
        return {
            "pairs": self.conversations.filter(preference__isnull=False).count(),
            "labelled": self.conversations.filter(reply_label__isnull=False).count(),
        }

    def as_summary(self) -> dict[str, Any]:
        """The CLI's `--json` contract (DESIGN.md)."""
        return {
            "batch": self.pk,
            "status": self.status,
            "outcome": self.outcome or None,
            "message": self.outcome_message,
            "format": self.detected_format or self.format,
            "unmapped_fields": self.unmapped_fields,
            "read": self.read,
            "imported": self.imported,
            **self.preference_counts,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "warnings": self.warnings,
            "numbered_by": self.numbered_by,
            "errors": [self._error_summary(error) for error in self.line_errors.all()[:1000]],
            "errors_not_stored": self.errors_not_stored,
        }

    def _error_summary(self, error: ImportLineError) -> dict[str, object]:
        # Scripts read "line" (DESIGN.md's contract), so it stays in every error; for a JSON
        # array it holds the item number, and "item" plus "numbered_by" say so.
        summary: dict[str, object] = {"line": error.line}
        if self.numbered_by == "item":
            summary.update(item=error.line, numbered_by="item")
        return {**summary, "field": error.field, "reason": error.reason}


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
