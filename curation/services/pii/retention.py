"""Retention: dropping the un-redacted originals of approved conversations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from curation.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    Dataset,
    PiiFinding,
    PreferencePair,
)
from curation.selectors.redaction import redacted_everything


def purge_originals(
    *, dataset: Dataset, user: Any, conversation_ids: Iterable[int] | None = None
) -> int:
    """Drop the un-redacted text of approved conversations; the redacted copy stays."""
    conversations = dataset.conversations.filter(
        status=ConversationStatus.APPROVED, originals_purged_at__isnull=True
    ).select_related("dataset")
    if conversation_ids is not None:
        conversations = conversations.filter(pk__in=list(conversation_ids))
    purged = 0
    for conversation in conversations.iterator(chunk_size=500):
        with transaction.atomic():
            everything = redacted_everything(conversation)
            redacted = everything[: len(conversation.original)]
            # A pair's alternative reply is purged the same way: only its redacted copy stays.
            PreferencePair.objects.filter(conversation=conversation).update(
                alternative=everything[len(conversation.original) :]
            )
            Conversation.objects.filter(pk=conversation.pk).update(
                redacted=redacted,
                original=[],
                # The search index holds the original's words; they go with it.
                search_vector=None,
                originals_purged_at=timezone.now(),
                updated_at=timezone.now(),
            )
            # Findings point into the purged text; without it they are meaningless.
            PiiFinding.objects.filter(conversation=conversation).delete()
            purged += 1
    if purged:
        AuditEvent.record(actor=user, action="pii.purge", dataset=dataset, purged=purged)
    return purged


def purge_if_configured(*, conversation: Conversation, user: Any) -> None:
    """Called when a conversation is approved: honours 'purge originals after approval'."""
    if conversation.dataset.purge_originals_after_approval:
        purge_originals(dataset=conversation.dataset, user=user, conversation_ids=[conversation.pk])
