"""Where a reviewer stands in a dataset's review queue, and what they may do with a
conversation: the reads behind the review page. The claims (leases) are in
`curation.services.reviews.queue`, which shares `open_for` with the counts here so the
numbers shown and the conversations handed out follow one rule."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from curation.flags import DUPLICATE
from curation.models import (
    Adjudication,
    Conversation,
    ConversationStatus,
    Dataset,
    Review,
    ReviewSkip,
)

REVIEWABLE = (
    ConversationStatus.IN_REVIEW,
    ConversationStatus.APPROVED,
    ConversationStatus.REJECTED,
)


def open_for(dataset: Dataset, reviewer: Any, now: Any) -> QuerySet[Conversation]:
    """Conversations this reviewer may be handed: needing reviews, not reviewed or skipped
    by them, and not under another reviewer's live lease."""
    return (
        Conversation.objects.filter(dataset=dataset)
        .needing_review(dataset.reviews_needed)
        .exclude(flags__contains=[DUPLICATE])
        .filter(Q(leased_to__isnull=True) | Q(lease_expires_at__lt=now) | Q(leased_to=reviewer))
        .exclude(Exists(Review.objects.filter(conversation=OuterRef("pk"), reviewer=reviewer)))
        .exclude(Exists(ReviewSkip.objects.filter(conversation=OuterRef("pk"), reviewer=reviewer)))
    )


# The cap on "N left" counts: past it the page says "1,000+", so the count stays a bounded
# walk of the queue's index at any dataset size.
LEFT_CAP = 500


def queue_position(
    *, dataset: Dataset, reviewer: Any, exclude: Collection[int] = ()
) -> dict[str, Any]:
    """What the review page says about where the reviewer stands: how many conversations are
    left for them (the one on screen included; at most LEFT_CAP counted) and how many they
    have reviewed in this dataset. `exclude`: conversations already decided on the screen
    but not yet here (a prefetched page is rendered before the decision lands)."""
    with transaction.atomic():
        probe_per_row()
        left = len(
            open_for(dataset, reviewer, timezone.now())
            .exclude(pk__in=list(exclude))
            .order_by("id")
            .values_list("id", flat=True)[: LEFT_CAP + 1]
        )
    reviewed = Review.objects.filter(dataset=dataset, reviewer=reviewer).exclude(
        conversation_id__in=list(exclude)
    ).count() + len(exclude)
    return {"left": min(left, LEFT_CAP), "more": left > LEFT_CAP, "reviewed": reviewed}


def queue_explanation(*, dataset: Dataset, reviewer: Any) -> list[dict[str, Any]]:
    """Why conversations still in review are not offered to this reviewer, as
    [{"reason": key, "count": N}] for the reasons that apply (the empty queue says this,
    so "In review: 2" on the dashboard beside "nothing left" is explained)."""
    now = timezone.now()
    in_review = Conversation.objects.filter(dataset=dataset, status=ConversationStatus.IN_REVIEW)
    mine = Review.objects.filter(conversation=OuterRef("pk"), reviewer=reviewer)
    skipped = ReviewSkip.objects.filter(conversation=OuterRef("pk"), reviewer=reviewer)
    counts = in_review.aggregate(
        duplicate=Count("id", filter=Q(flags__contains=[DUPLICATE])),
        reviewed=Count("id", filter=Q(Exists(mine)) & Q(review_count__lt=dataset.reviews_needed)),
        skipped=Count("id", filter=Q(Exists(skipped)) & ~Q(Exists(mine))),
        conflict=Count(
            "id",
            filter=Q(review_count__gte=dataset.reviews_needed)
            & Q(Exists(Adjudication.objects.filter(conversation=OuterRef("pk")))),
        ),
        held=Count(
            "id",
            filter=Q(lease_expires_at__gte=now)
            & ~Q(leased_to=reviewer)
            & Q(leased_to__isnull=False)
            & ~Q(Exists(mine)),
        ),
    )
    return [{"reason": key, "count": value} for key, value in counts.items() if value]


def probe_per_row() -> None:
    """Make the queue query check "not reviewed / skipped by me" row by row.

    With a merge or hash anti-join the planner may read every review of the dataset to find
    one conversation (seen at 1M rows: 650 ms); as a nested loop each candidate, taken in id
    order, costs one probe of the (reviewer, conversation) unique index, whatever the size.
    SET LOCAL ends with the claim's transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute("SET LOCAL enable_hashjoin = off")


def leased_by_other(conversation: Conversation, reviewer: Any) -> bool:
    return (
        conversation.leased_to_id is not None
        and conversation.leased_to_id != reviewer.pk
        and conversation.lease_expires_at is not None
        and conversation.lease_expires_at >= timezone.now()
    )


def can_edit(conversation: Conversation, user: Any, *, is_admin: bool) -> bool:
    if not conversation.original:
        return False  # originals purged: only the redacted copy is left
    if is_admin:
        return True
    return conversation.status == ConversationStatus.IN_REVIEW and not leased_by_other(
        conversation, user
    )


def neighbours(
    *, dataset: Dataset, reviewer: Any, conversation: Conversation
) -> tuple[int | None, int | None]:
    """(previous, next) conversation ids in this reviewer's own review history around
    `conversation`; next is None at the end of the history (the queue comes next)."""
    mine = Review.objects.filter(dataset=dataset, reviewer=reviewer)
    current = mine.filter(conversation=conversation).values_list("id", flat=True).first()
    if current is None:
        previous = mine.order_by("-id").values_list("conversation_id", flat=True).first()
        return previous, None
    previous = (
        mine.filter(id__lt=current)
        .order_by("-id")
        .values_list("conversation_id", flat=True)
        .first()
    )
    following = (
        mine.filter(id__gt=current).order_by("id").values_list("conversation_id", flat=True).first()
    )
    return previous, following
