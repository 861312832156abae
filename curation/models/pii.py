from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from curation.models.conversations import Conversation
from curation.models.datasets import Dataset
from curation.models.jobs import Job


class FindingSource(models.TextChoices):
    DETECTOR = "detector", "Detector"
    REVIEWER = "reviewer", "Reviewer"


class FindingDecision(models.TextChoices):
    REDACT = "redact", "Redact"
    KEEP = "keep", "Keep"


class PiiFinding(models.Model):
    """A span of a conversation's text that holds personal data (or was judged not to).

    The span's text is not stored: it is read from the original when needed, so purging
    the original leaves no copy behind.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="findings"
    )
    message_index = models.PositiveIntegerField()
    # Which text of the message: "content", "content.N.text", "name", "tool_calls.N.function.arguments", …
    field = models.CharField(max_length=100, default="content")
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    entity_type = models.CharField(max_length=64)
    score = models.FloatField(default=1.0)
    source = models.CharField(
        max_length=16, choices=FindingSource.choices, default=FindingSource.DETECTOR
    )
    decision = models.CharField(
        max_length=16, choices=FindingDecision.choices, default=FindingDecision.REDACT
    )
    # Set when a person decided; such findings survive a re-run of detection.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message_index", "field", "start", "id"]
        indexes = [
            models.Index(fields=["conversation", "message_index"]),
            models.Index(fields=["entity_type"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="finding_span_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entity_type} [{self.message_index}:{self.field}:{self.start}-{self.end}]"

    @property
    def is_reviewed(self) -> bool:
        return self.decided_by_id is not None


class PiiRun(Job):
    """One detection pass over a dataset, fanned out to `pii` workers in chunks of ids."""

    job_function = "curation.jobs.run_pii"
    queue_name = "pii"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="pii_runs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Only conversations still waiting for a scan, or every one (after a settings change).
    rescan_all = models.BooleanField(default=False)
    chunks = models.PositiveIntegerField(default=0)
    # The highest conversation id handed out in chunks: conversations that join a running run
    # (another import) are planned past it.
    planned_through = models.BigIntegerField(default=0)
    messages_analyzed = models.PositiveBigIntegerField(default=0)
    # Of those, texts whose findings came from the dataset's analysis cache (or from an
    # identical text earlier in the same chunk) instead of a pass through the pipeline.
    messages_reused = models.PositiveBigIntegerField(default=0)
    findings = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"PII run {self.pk} on {self.dataset}"

    @property
    def reuse_rate(self) -> float | None:
        """The share of analyzed texts served from earlier analysis (None before any)."""
        if not self.messages_analyzed:
            return None
        return self.messages_reused / self.messages_analyzed

    def get_absolute_url(self) -> str:
        return reverse("pii_overview", args=[self.dataset.slug])


class PiiTextAnalysis(models.Model):
    """What the per-text detector found in one distinct text of a dataset: its cache.

    Keyed by a digest of the text, the PII settings fingerprint (settings, model, rule code)
    and the detection context, so a text is analyzed once per dataset and settings. The
    text itself is never stored, only the digest and the spans (start, end, entity type,
    score); the rows go with the dataset.
    """

    # No database-level key: inserting a row with one takes a KEY SHARE lock on the dataset
    # at commit, so every chunk would wait behind anyone holding the dataset row FOR UPDATE
    # (a run starting, a settings edit). Django's cascade still deletes the rows with it.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    # sha256 over fingerprint, context key and text (see curation.services.pii.cache).
    key = models.BinaryField(max_length=32)
    # The settings fingerprint alone, so entries of superseded settings can be dropped.
    fingerprint = models.CharField(max_length=32)
    # [[start, end, entity_type, score], ...] in the detector's order.
    spans = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "key"], name="pii_text_analysis_unique_key")
        ]
        indexes = [models.Index(fields=["dataset", "fingerprint"])]

    def __str__(self) -> str:
        return f"PII analysis {bytes(self.key).hex()[:12]} in dataset {self.dataset_id}"
