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
    findings = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"PII run {self.pk} on {self.dataset}"

    def get_absolute_url(self) -> str:
        return reverse("pii_overview", args=[self.dataset.slug])
