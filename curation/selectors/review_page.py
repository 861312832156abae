"""What the review page shows of a conversation for a reviewer: their review, the rubric,
whether they may review or edit it, the chat, and their place in the queue and history.
Nothing here claims a lease: the view claims through `services.reviews.queue` first."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

from django.db.models import Count, Q, QuerySet, prefetch_related_objects

from curation.models import (
    SCORE_RANGE,
    Adjudication,
    AdjudicationStatus,
    Conversation,
    ConversationStatus,
    Dataset,
    Decision,
    Review,
)
from curation.selectors.chat import message_segments
from curation.selectors.preferences import pair_for_display
from curation.selectors.review_queue import (
    REVIEWABLE,
    can_edit,
    leased_by_other,
    neighbours,
    queue_explanation,
    queue_position,
)


def criteria_with(dataset: Dataset, selected: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**criterion, "selected": selected.get(criterion["key"])} for criterion in dataset.criteria
    ]


def review_panel(
    *,
    dataset: Dataset,
    conversation: Conversation | None,
    reviewer: Any,
    is_admin: bool,
    redacted: bool = False,
    posted: dict[str, Any] | None = None,
    decided: Collection[int] = (),
) -> dict[str, Any]:
    """The review panel's context. `posted`: scores and comment of a refused decision, shown
    again; `decided`: conversations decided on screen but not yet here (a prefetch)."""
    context: dict[str, Any] = {
        "dataset": dataset,
        "conversation": conversation,
        "is_admin": is_admin,
        "score_range": SCORE_RANGE,
        "position": queue_position(dataset=dataset, reviewer=reviewer, exclude=decided),
    }
    if conversation is None:
        context["not_offered"] = queue_explanation(dataset=dataset, reviewer=reviewer)
        context["last_reviewed_id"] = (
            Review.objects.filter(dataset=dataset, reviewer=reviewer)
            .order_by("-id")
            .values_list("conversation_id", flat=True)
            .first()
        )
        return context
    # current_messages() and the chat both read the revisions: load them once.
    prefetch_related_objects([conversation], "revisions")
    my_review = Review.objects.filter(conversation=conversation, reviewer=reviewer).first()
    adjudication = Adjudication.objects.filter(conversation=conversation).first()
    final = adjudication is not None and adjudication.status == AdjudicationStatus.RESOLVED
    needs_me = (
        my_review is None
        and conversation.status == ConversationStatus.IN_REVIEW
        and conversation.review_count < dataset.reviews_needed
    )
    leased_other = leased_by_other(conversation, reviewer)
    can_review = not final and (
        (my_review is not None and conversation.status in REVIEWABLE)
        or (needs_me and not leased_other)
    )
    previous, following = neighbours(dataset=dataset, reviewer=reviewer, conversation=conversation)
    selected = posted if posted is not None else (my_review.scores if my_review else {})
    context.update(
        {
            "my_review": my_review,
            "comment": (posted or {}).get("comment", my_review.comment if my_review else ""),
            "adjudication": adjudication,
            "leased_other": leased_other,
            "can_review": can_review,
            "can_edit": not redacted and can_edit(conversation, reviewer, is_admin=is_admin),
            "criteria": criteria_with(dataset, selected),
            "chat_messages": message_segments(conversation, redacted=redacted),
            "preference": pair_for_display(conversation, redacted=redacted),
            "redacted_view": redacted,
            "pii_count": conversation.findings.count(),
            "previous_id": previous,
            "next_id": following,
            "opened_at": f"{time.time():.3f}",
            "metadata": {
                key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                for key, value in (conversation.metadata or {}).items()
            },
            "tools_json": json.dumps(conversation.tools, indent=2, ensure_ascii=False)
            if conversation.tools
            else "",
        }
    )
    return context


def adjudications(*, dataset: Dataset, show: str) -> QuerySet[Adjudication]:
    """The dataset's open conflicts (oldest first), or its resolved ones (latest first)."""
    items = Adjudication.objects.filter(dataset=dataset).select_related(
        "conversation", "resolved_by"
    )
    if show == "resolved":
        return items.filter(status=AdjudicationStatus.RESOLVED).order_by("-resolved_at", "-id")
    return items.filter(status=AdjudicationStatus.OPEN)


def with_tallies(dataset: Dataset, items: Any) -> None:
    """Attach to each adjudication of a page its conversation's approvals and rejections."""
    tallies = {
        row["conversation_id"]: row
        for row in Review.objects.filter(conversation_id__in=[a.conversation_id for a in items])
        .values("conversation_id")
        .annotate(
            approvals=Count("id", filter=Q(decision=Decision.APPROVE)),
            rejections=Count("id", filter=Q(decision=Decision.REJECT)),
        )
    }
    for item in items:
        item.conversation.dataset = dataset
        item.tally = tallies.get(item.conversation_id, {})


def next_open_adjudication(dataset: Dataset) -> Adjudication | None:
    return (
        Adjudication.objects.filter(dataset=dataset, status=AdjudicationStatus.OPEN)
        .order_by("id")
        .first()
    )
