"""Alternatives for a conversation's final assistant turn: preference pairs and labelled replies.

A conversation's own messages hold the prompt and one reply (reply "a"); a PreferencePair
holds the other reply (reply "b") and which of the two people prefer. The alternative's
messages are redacted together with the conversation's (PII findings index them after the
conversation's last message), so a value redacted in the prompt is redacted in both replies.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from curation.models.conversations import Conversation

__all__ = [
    "LabelledReply",
    "PairChoice",
    "PairSource",
    "PairVerdict",
    "PairwiseVerdict",
    "PreferencePair",
]


class PairSource(models.TextChoices):
    IMPORTED = "imported", "Imported"
    EDIT = "edit", "Reviewer edit"
    PAIRWISE = "pairwise", "Pairwise review"
    EVALUATION = "evaluation", "Evaluation verdict"


class PairChoice(models.TextChoices):
    """Which reply is preferred: the conversation's own (a), the alternative (b), or none yet."""

    A = "a", "The conversation's reply"
    B = "b", "The alternative reply"
    UNRANKED = "unranked", "Not ranked yet"
    TIE = "tie", "Tie (both fine)"
    BOTH_BAD = "both_bad", "Both bad"
    CONFLICT = "conflict", "Reviewers disagree"


RANKED = (PairChoice.A, PairChoice.B)


class PreferencePairQuerySet(models.QuerySet):
    def ranked(self) -> PreferencePairQuerySet:
        return self.filter(active=True, choice__in=RANKED)


class PreferencePair(models.Model):
    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="preference"
    )
    # Index of the conversation's message where the final assistant turn (reply a) starts.
    reply_start = models.PositiveIntegerField()
    # Reply b: the assistant message(s) (tool calls allowed) that replace messages[reply_start:].
    alternative = models.JSONField(default=list)
    choice = models.CharField(max_length=16, choices=PairChoice.choices, default=PairChoice.A)
    source = models.CharField(max_length=16, choices=PairSource.choices)
    # Unticked by a reviewer (an edit that should not teach a preference): never exported.
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Pairwise review of an unranked pair: verdicts so far and the reviewer holding it.
    verdict_count = models.PositiveSmallIntegerField(default=0)
    leased_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    objects = PreferencePairQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["choice", "active"])]

    def __str__(self) -> str:
        return f"Pair on conversation {self.conversation_id} ({self.source}, {self.choice})"

    @property
    def ranked(self) -> bool:
        return self.active and self.choice in RANKED

    def split(self, messages: list[dict[str, Any]]) -> tuple[list[Any], list[Any], list[Any]]:
        """(prompt, chosen, rejected) from the conversation's messages followed by the
        alternative's (the layout the redaction works on); unranked pairs read a first."""
        own = messages[: len(messages) - len(self.alternative)]
        prompt, reply_a = own[: self.reply_start], own[self.reply_start :]
        reply_b = messages[len(own) :]
        if self.choice == PairChoice.B:
            return prompt, reply_b, reply_a
        return prompt, reply_a, reply_b


class LabelledReply(models.Model):
    """KTO-style: the conversation's final reply marked desirable (True) or not (False)."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="reply_label"
    )
    reply_start = models.PositiveIntegerField()
    label = models.BooleanField()
    source = models.CharField(
        max_length=16, choices=PairSource.choices, default=PairSource.IMPORTED
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Reply of conversation {self.conversation_id}: {'good' if self.label else 'bad'}"


class PairVerdict(models.TextChoices):
    """A reviewer's pairwise verdict, with the sides un-blinded (a = the conversation's reply)."""

    A = "a", "A better"
    B = "b", "B better"
    TIE = "tie", "Tie (both fine)"
    BOTH_BAD = "both_bad", "Both bad"
    SKIP = "skip", "Skipped"


class PairwiseVerdict(models.Model):
    pair = models.ForeignKey(PreferencePair, on_delete=models.CASCADE, related_name="verdicts")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    verdict = models.CharField(max_length=8, choices=PairVerdict.choices)
    # Which side the reviewer saw on the left (the order is drawn per pair and reviewer).
    left_is_a = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pair", "reviewer"], name="one_pairwise_verdict")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} on pair {self.pair_id}: {self.verdict}"
