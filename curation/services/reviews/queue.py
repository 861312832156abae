"""The review queue's writes: claiming conversations (leases), releasing and skipping them.

The queue hands each reviewer the next conversation that needs them with
`SELECT … FOR UPDATE SKIP LOCKED` and a lease on the row (Conversation.leased_to /
lease_expires_at), so two reviewers never hold the same conversation at once. A reviewer
holds one lease per dataset for the conversation on screen, plus, while the page prefetches,
the one behind it; opening another conversation by its address moves the lease there.
Exact duplicates (the blocking `duplicate` flag: a later copy of a conversation) are never
offered: reviewing the first copy is enough, and "keep one" on the duplicates page settles
the rest. Which conversations are open to a reviewer is `selectors.review_queue.open_for`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from curation.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    Dataset,
    Review,
    ReviewSkip,
)
from curation.selectors.review_queue import open_for, probe_per_row


def lease_seconds() -> int:
    return settings.CURATOR_REVIEW_LEASE_SECONDS


def _serialize_claims(dataset: Dataset, reviewer: Any) -> None:
    """One claim at a time per reviewer and dataset.

    The page claims twice at once (the prefetch beside a decision or a J/K step); without
    this, one request could skip the row the other has locked and release its lease.
    Other reviewers are not held up: the lock is keyed by both ids and ends with the
    transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"curator.review_queue:{dataset.pk}:{reviewer.pk}"],
        )


def claim_next(
    *, dataset: Dataset, reviewer: Any, exclude: Collection[int] = ()
) -> Conversation | None:
    """Lease the next conversation that needs this reviewer, or None when none is left.

    A live lease the reviewer already holds comes first (a reload, or the conversation that
    was prefetched). `exclude` names conversations not to return (the one on screen while
    prefetching); their leases are kept, every other lease of the reviewer is released.
    """
    now = timezone.now()
    with transaction.atomic():
        _serialize_claims(dataset, reviewer)
        probe_per_row()
        candidates = open_for(dataset, reviewer, now).exclude(pk__in=list(exclude))
        # My live leases first, found through the leased_to index (a handful of rows), then
        # checked against the queue's conditions.
        mine = list(
            Conversation.objects.filter(
                dataset=dataset, leased_to=reviewer, lease_expires_at__gte=now
            )
            .exclude(pk__in=list(exclude))
            .values_list("id", flat=True)[:10]
        )
        held = (
            candidates.filter(pk__in=mine)
            .order_by("id")
            .select_for_update(skip_locked=True, of=("self",))
            .only("id")
            .first()
            if mine
            else None
        )
        # SKIP LOCKED: a row another reviewer is claiming right now is passed over, not
        # waited for; once their lease commits, the lease condition excludes it.
        chosen = held or (
            candidates.order_by("id")
            .select_for_update(skip_locked=True, of=("self",))
            .only("id")
            .first()
        )
        Conversation.objects.filter(dataset=dataset, leased_to=reviewer).exclude(
            pk__in=[*exclude, *([chosen.pk] if chosen else [])]
        ).update(leased_to=None, lease_expires_at=None)
        if chosen is None:
            return None
        Conversation.objects.filter(pk=chosen.pk).update(
            leased_to=reviewer, lease_expires_at=now + timedelta(seconds=lease_seconds())
        )
    conversation = Conversation.objects.select_related("dataset").get(pk=chosen.pk)
    conversation.dataset = dataset
    return conversation


def claim(*, conversation: Conversation, reviewer: Any) -> bool:
    """Lease this conversation for the reviewer if it is free and needs them (opening it by
    its address). Returns whether the reviewer now holds it."""
    now = timezone.now()
    with transaction.atomic():
        _serialize_claims(conversation.dataset, reviewer)
        probe_per_row()
        row = (
            open_for(conversation.dataset, reviewer, now)
            .filter(pk=conversation.pk)
            .select_for_update(skip_locked=True, of=("self",))
            .only("id")
            .first()
        )
        if row is None:
            return False
        until = now + timedelta(seconds=lease_seconds())
        # One live lease per reviewer and dataset: opening conversations by their address
        # (thirty tabs) moves the lease rather than hoarding thirty.
        Conversation.objects.filter(dataset=conversation.dataset, leased_to=reviewer).exclude(
            pk=row.pk
        ).update(leased_to=None, lease_expires_at=None)
        Conversation.objects.filter(pk=row.pk).update(leased_to=reviewer, lease_expires_at=until)
    conversation.leased_to, conversation.lease_expires_at = reviewer, until
    return True


def release(*, conversation: Conversation, reviewer: Any) -> None:
    Conversation.objects.filter(pk=conversation.pk, leased_to=reviewer).update(
        leased_to=None, lease_expires_at=None
    )


def claim_for_review(*, conversation: Conversation, reviewer: Any) -> bool:
    """Lease a conversation opened by its address when it still needs this reviewer and
    they do not hold it yet (the review page calls this before showing it). Returns whether
    a claim was attempted and succeeded."""
    needs_reviewer = (
        conversation.status == ConversationStatus.IN_REVIEW
        and conversation.review_count < conversation.dataset.reviews_needed
        and conversation.leased_to_id != reviewer.pk
        and not Review.objects.filter(conversation=conversation, reviewer=reviewer).exists()
    )
    return needs_reviewer and claim(conversation=conversation, reviewer=reviewer)


def skip(*, conversation: Conversation, reviewer: Any) -> None:
    """Pass on a conversation: the queue stops offering it to this reviewer."""
    with transaction.atomic():
        ReviewSkip.objects.get_or_create(conversation=conversation, reviewer=reviewer)
        release(conversation=conversation, reviewer=reviewer)
        AuditEvent.record(
            actor=reviewer, action="review.skip", obj=conversation, dataset=conversation.dataset
        )
