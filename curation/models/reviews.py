"""Review workflow models: reviews, reviewers' edits, skips and adjudications."""

from __future__ import annotations

import difflib

from django.conf import settings
from django.db import models

from curation.models.conversations import Conversation
from curation.models.datasets import Dataset

__all__ = [
    "SCORE_RANGE",
    "Adjudication",
    "AdjudicationStatus",
    "ConversationRevision",
    "Decision",
    "Review",
    "ReviewSkip",
    "text_diff",
]

SCORE_RANGE = range(1, 6)


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Review(models.Model):
    """One reviewer's verdict on one conversation: rubric scores, decision and comment."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reviews")
    # Denormalised from the conversation so per-dataset stats never join 1M conversations.
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews"
    )
    # {criterion key: 1..5}; keys follow Dataset.criteria at the time of the review.
    scores = models.JSONField(default=dict, blank=True)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True)
    # Seconds from opening the conversation to the first decision: the reviewer's effort.
    seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Reviewer first: the queue's "not reviewed by me" anti-join scans my reviews only.
            models.UniqueConstraint(
                fields=["reviewer", "conversation"], name="one_review_per_reviewer"
            ),
        ]
        indexes = [
            models.Index(fields=["reviewer", "dataset", "id"]),
            models.Index(fields=["dataset", "reviewer"]),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.decision} conversation {self.conversation_id}"

    @property
    def decided(self) -> str:
        """ "approved" or "rejected": the status word, also the badge's CSS class."""
        return decided(self.decision)


class ConversationRevision(models.Model):
    """A reviewer's edit of one message's text. The original stays in Conversation.original;
    the latest revision of each message is what `Conversation.current_messages` shows."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="revisions"
    )
    message_index = models.PositiveIntegerField()
    before = models.TextField()
    after = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "message_index", "id"]
        indexes = [models.Index(fields=["conversation", "message_index", "id"])]

    def __str__(self) -> str:
        return f"Revision of message {self.message_index} of conversation {self.conversation_id}"

    def diff_lines(self) -> list[tuple[str, str]]:
        return text_diff(self.before, self.after)


def text_diff(before: str, after: str) -> list[tuple[str, str]]:
    """(kind, line) per line of a unified diff; kind is add, del, hunk or same.
    Templates escape the lines like any other conversation text."""
    result = []
    for line in difflib.unified_diff(
        before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=2
    ):
        if line.startswith(("---", "+++")):
            continue
        result.append(({"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same"), line))
    return result


class ReviewSkip(models.Model):
    """A reviewer passed on a conversation; the queue stops offering it to them."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reviewer", "conversation"], name="one_skip_per_reviewer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} skipped conversation {self.conversation_id}"


class AdjudicationStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Adjudication(models.Model):
    """A conversation whose reviews disagree under the dataset's approval rule; a dataset
    admin's decision on it is final."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="adjudication"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="adjudications")
    status = models.CharField(
        max_length=16, choices=AdjudicationStatus.choices, default=AdjudicationStatus.OPEN
    )
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    comment = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["dataset", "status", "id"])]

    def __str__(self) -> str:
        return f"Adjudication of conversation {self.conversation_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == AdjudicationStatus.OPEN

    @property
    def decided(self) -> str:
        return decided(self.decision)


def decided(decision: str) -> str:
    labels: dict[str, str] = {Decision.APPROVE: "approved", Decision.REJECT: "rejected"}
    return labels.get(decision, "")
