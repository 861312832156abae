from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchConfig, SearchQuery, SearchVectorField
from django.db import models
from django.db.models.functions import Cast
from django.urls import reverse

from curation.flags import BLOCKING_FLAGS
from curation.models.datasets import Dataset
from curation.models.imports import ImportBatch


class ConversationStatus(models.TextChoices):
    PENDING_PII = "pending_pii", "Waiting for PII scan"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


FLAG_LABELS = {
    "no_system_message": "No system message",
    "no_user_message": "No user message",
    "over_token_limit": "Over the token limit",
    "no_assistant_reply": "No assistant reply",
    "empty_assistant_reply": "Empty assistant reply",
    "short_assistant_reply": "Very short assistant reply",
    "degenerate_repetition": "Degenerate repetition",
    "ends_with_user_turn": "Ends with a user turn",
    "empty_message": "Empty user or system message",
    "duplicate": "Exact duplicate",
    "near_duplicate": "Near-duplicate",
}


class ConversationQuerySet(models.QuerySet):
    def with_flag(self, flag: str) -> ConversationQuerySet:
        return self.filter(flags__contains=[flag])

    def passing(self) -> ConversationQuerySet:
        return self.exclude(flags__overlap=list(BLOCKING_FLAGS))

    def approved(self) -> ConversationQuerySet:
        return self.filter(status=ConversationStatus.APPROVED)

    def search(self, query: str) -> ConversationQuerySet:
        """Full-text search over the original messages' strings (websearch syntax:
        words, "a phrase", -excluded, or) on the stored, GIN-indexed `search_vector`, which the
        quality job after an import fills (an expression index would tax every insert)."""
        return self.filter(
            search_vector=SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        )

    def needing_review(self, needed: int) -> ConversationQuerySet:
        """In review with fewer reviews than the dataset needs."""
        return self.filter(status=ConversationStatus.IN_REVIEW, review_count__lt=needed)

    def in_cluster(self) -> ConversationQuerySet:
        return self.filter(near_dup_cluster__isnull=False)


SEARCH_CONFIG = "english"


def search_vector() -> models.Func:
    """jsonb_to_tsvector('english', original, '["string"]'): every string value of the
    messages (role names included, which are in every row and so harmless)."""
    return models.Func(
        SearchConfig(SEARCH_CONFIG),
        models.F("original"),
        Cast(models.Value('["string"]'), models.JSONField()),
        function="jsonb_to_tsvector",
        output_field=SearchVectorField(),
    )


class Conversation(models.Model):
    # Indexed through the composite (dataset, …) indexes below; a lone index would only slow inserts.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    source_line = models.PositiveIntegerField(null=True, blank=True)
    # OpenAI chat messages as imported; emptied when originals are purged.
    original = models.JSONField(default=list)
    tools = models.JSONField(null=True, blank=True)
    parallel_tool_calls = models.BooleanField(null=True, blank=True)
    # Redacted messages as last derived from `original` + findings; kept after a purge.
    redacted = models.JSONField(null=True, blank=True)
    originals_purged_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.PENDING_PII
    )
    message_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    assistant_tokens = models.PositiveIntegerField(default=0)
    flags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    quality_score = models.FloatField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The detection run that last analyzed this conversation (a retry skips those done).
    pii_run = models.ForeignKey(
        "curation.PiiRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    review_count = models.PositiveSmallIntegerField(default=0)
    # Mean rubric score over this conversation's reviews, kept up to date by the review workflow.
    score_avg = models.FloatField(null=True, blank=True)
    # MinHash signature over word shingles and the near-duplicate cluster it falls in.
    minhash = ArrayField(models.BigIntegerField(), null=True, blank=True)
    near_dup_cluster = models.PositiveBigIntegerField(null=True, blank=True)
    search_vector = SearchVectorField(null=True, blank=True, editable=False)
    leased_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "content_hash"], name="unique_conversation_per_dataset"
            )
        ]
        indexes = [
            models.Index(fields=["dataset", "status", "id"]),
            models.Index(fields=["dataset", "batch", "id"]),
            GinIndex(fields=["flags"]),
            GinIndex(fields=["search_vector"], name="conversation_search"),
            # The review queue finds a reviewer's leases through this (a handful of rows);
            # partial, so imported rows (never leased) cost nothing to index.
            models.Index(
                fields=["leased_to", "dataset"],
                name="conversation_lease",
                condition=models.Q(leased_to__isnull=False),
            ),
            models.Index(
                fields=["near_dup_cluster"],
                name="conversation_cluster",
                condition=models.Q(near_dup_cluster__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.dataset})"

    def get_absolute_url(self) -> str:
        return reverse("conversation_detail", args=[self.dataset.slug, self.pk])

    @property
    def flag_labels(self) -> list[tuple[str, str, bool]]:
        return [
            (flag, FLAG_LABELS.get(flag, flag.replace("_", " ")), flag in BLOCKING_FLAGS)
            for flag in self.flags
        ]

    @property
    def preview(self) -> str:
        for message in self.redacted or self.original:
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                return message["content"][:160]
        return ""

    @property
    def over_limit(self) -> bool:
        return self.token_count > self.dataset.token_limit

    def current_messages(self) -> list[dict[str, Any]]:
        """The messages as they stand now: the original with reviewers' edits applied.

        The latest ConversationRevision of a message replaces its content; the original is
        never changed. Prefetch `revisions` when calling this for many conversations.
        """
        revisions = list(self.revisions.all()) if self.pk else []
        if not revisions:
            return self.original
        latest = {revision.message_index: revision for revision in revisions}
        messages = []
        for index, message in enumerate(self.original):
            revision = latest.get(index)
            if revision is None:
                messages.append(message)
            else:
                messages.append({**message, "content": revision.after})
        return messages

    def messages_for_display(self) -> list[dict[str, Any]]:
        return self.current_messages() if self.original else (self.redacted or [])
