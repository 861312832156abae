"""Review decisions: a reviewer's review, the dataset's approval rule, an admin's
adjudication of a conflict, bulk decisions and "keep one" of a near-duplicate cluster.
Approving honours "purge originals after approval" in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from curation.models import (
    Adjudication,
    AdjudicationStatus,
    AuditEvent,
    Conversation,
    ConversationStatus,
    Dataset,
    Decision,
    Review,
)
from curation.selectors.review_queue import REVIEWABLE, leased_by_other
from curation.services.pii.retention import purge_if_configured, purge_originals
from curation.services.reviews.errors import ReviewError


def outcome(decisions: Iterable[str], *, needed: int, rule: str) -> str | None:
    """What a conversation's reviews add up to: "approve", "reject", "conflict", or None
    while fewer than `needed` reviews are in. Unanimous: every review must agree. Majority:
    more of one than the other; a tie is a conflict."""
    decisions = list(decisions)
    if len(decisions) < needed:
        return None
    approvals = decisions.count(Decision.APPROVE)
    rejections = len(decisions) - approvals
    if rule == "majority":
        if approvals == rejections:
            return "conflict"
        return Decision.APPROVE if approvals > rejections else Decision.REJECT
    if rejections == 0:
        return Decision.APPROVE
    if approvals == 0:
        return Decision.REJECT
    return "conflict"


def clean_scores(dataset: Dataset, raw: Mapping[str, Any], *, require_all: bool) -> dict[str, int]:
    scores: dict[str, int] = {}
    missing = []
    for criterion in dataset.criteria:
        value = raw.get(criterion["key"])
        if value in (None, ""):
            missing.append(criterion["name"])
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ReviewError(
                f"{criterion['name']}: a score is a whole number from 1 to 5."
            ) from None
        if not 1 <= number <= 5:
            raise ReviewError(f"{criterion['name']}: a score is a whole number from 1 to 5.")
        scores[criterion["key"]] = number
    if require_all and missing:
        raise ReviewError(f"Score every criterion before approving ({', '.join(missing)} missing).")
    return scores


def submit_review(
    *,
    conversation: Conversation,
    reviewer: Any,
    decision: str,
    scores: Mapping[str, Any],
    comment: str = "",
    seconds: float | None = None,
) -> Review:
    """Record (or change) this reviewer's review and settle the conversation's status."""
    if decision not in Decision.values:
        raise ReviewError("Choose approve or reject.")
    dataset = conversation.dataset
    cleaned = clean_scores(dataset, scores, require_all=decision == Decision.APPROVE)
    with transaction.atomic():
        # Row lock: concurrent reviews of one conversation count and settle one at a time.
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        review = Review.objects.filter(conversation=locked, reviewer=reviewer).first()
        if locked.status not in REVIEWABLE:
            raise ReviewError("This conversation is not open for review yet (PII scan pending).")
        if _is_adjudicated(locked):
            raise ReviewError("A dataset admin has made the final decision on this conversation.")
        if review is None:
            if (
                locked.review_count >= dataset.reviews_needed
                or locked.status != ConversationStatus.IN_REVIEW
            ):
                raise ReviewError("This conversation already has all the reviews it needs.")
            if leased_by_other(locked, reviewer):
                raise ReviewError(
                    "Your lease on this conversation ran out and another reviewer has it now."
                )
            review = Review(
                conversation=locked, dataset=dataset, reviewer=reviewer, seconds=seconds
            )
            action = "review.submit"
        else:
            action = "review.update"
        before = {"decision": review.decision, "scores": review.scores} if review.pk else None
        review.decision, review.scores, review.comment = decision, cleaned, comment.strip()
        review.save()
        locked.dataset = dataset
        _refresh_review_fields(locked)
        Conversation.objects.filter(pk=locked.pk, leased_to=reviewer).update(
            leased_to=None, lease_expires_at=None
        )
        AuditEvent.record(
            actor=reviewer,
            action=action,
            obj=conversation,
            dataset=dataset,
            decision=decision,
            scores=cleaned,
            **({"before": before} if before else {}),
        )
        status = settle(conversation=locked, actor=reviewer)
    conversation.status, conversation.review_count = status, locked.review_count
    return review


def _is_adjudicated(conversation: Conversation) -> bool:
    return Adjudication.objects.filter(
        conversation=conversation, status=AdjudicationStatus.RESOLVED
    ).exists()


def _refresh_review_fields(conversation: Conversation) -> None:
    reviews = list(conversation.reviews.values_list("scores", flat=True))
    values = [v for scores in reviews for v in scores.values() if isinstance(v, int)]
    conversation.review_count = len(reviews)
    conversation.score_avg = round(sum(values) / len(values), 3) if values else None
    Conversation.objects.filter(pk=conversation.pk).update(
        review_count=conversation.review_count, score_avg=conversation.score_avg
    )


def settle(*, conversation: Conversation, actor: Any = None) -> str:
    """Apply the dataset's approval rule to the reviews in; a conflict opens an adjudication.
    A resolved adjudication is final and is never overridden here. Returns the status."""
    dataset = conversation.dataset
    if _is_adjudicated(conversation):
        return conversation.status
    result = outcome(
        conversation.reviews.values_list("decision", flat=True),
        needed=dataset.reviews_needed,
        rule=dataset.approval_rule,
    )
    statuses: dict[str | None, ConversationStatus] = {
        Decision.APPROVE: ConversationStatus.APPROVED,
        Decision.REJECT: ConversationStatus.REJECTED,
    }
    status = statuses.get(result, ConversationStatus.IN_REVIEW)
    if result == "conflict":
        Adjudication.objects.get_or_create(conversation=conversation, defaults={"dataset": dataset})
    else:
        # A reviewer changing their mind can dissolve a conflict nobody has settled yet.
        Adjudication.objects.filter(
            conversation=conversation, status=AdjudicationStatus.OPEN
        ).delete()
    if status != conversation.status:
        Conversation.objects.filter(pk=conversation.pk).update(status=status)
        conversation.status = status
        if status == ConversationStatus.APPROVED:
            _after_approval(conversation, actor)
    return status


def _after_approval(conversation: Conversation, actor: Any) -> None:
    purge_if_configured(conversation=conversation, user=actor)


def adjudicate(
    *, adjudication: Adjudication, admin: Any, decision: str, comment: str = ""
) -> Adjudication:
    """A dataset admin's final decision on a conflict."""
    if decision not in Decision.values:
        raise ReviewError("Choose approve or reject.")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=adjudication.conversation_id)
        conversation.dataset = adjudication.dataset
        adjudication.status = AdjudicationStatus.RESOLVED
        adjudication.decision = decision
        adjudication.comment = comment.strip()
        adjudication.resolved_by = admin
        adjudication.resolved_at = timezone.now()
        adjudication.save()
        status = (
            ConversationStatus.APPROVED
            if decision == Decision.APPROVE
            else ConversationStatus.REJECTED
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            status=status, leased_to=None, lease_expires_at=None
        )
        AuditEvent.record(
            actor=admin,
            action="review.adjudicate",
            obj=conversation,
            dataset=adjudication.dataset,
            decision=decision,
            comment=adjudication.comment,
        )
        if status == ConversationStatus.APPROVED and conversation.status != status:
            conversation.status = status
            _after_approval(conversation, admin)
    return adjudication


def decide_conversations(
    *,
    dataset: Dataset,
    conversations: QuerySet[Conversation],
    decision: str,
    user: Any,
    any_status: bool = False,
    audit: bool = True,
    description: str = "",
) -> int:
    """An admin's decision on many conversations at once (bulk action, keep-one). Only
    conversations in review are touched unless `any_status`; open conflicts among them are
    resolved by this decision. Returns how many changed."""
    if decision not in Decision.values:
        raise ReviewError("Choose approve or reject.")
    status = (
        ConversationStatus.APPROVED if decision == Decision.APPROVE else ConversationStatus.REJECTED
    )
    targets = conversations.filter(dataset=dataset).exclude(status=status)
    if not any_status:
        targets = targets.filter(status=ConversationStatus.IN_REVIEW)
    else:
        targets = targets.exclude(status=ConversationStatus.PENDING_PII)
    now = timezone.now()
    with transaction.atomic():
        ids = list(targets.values_list("id", flat=True))
        changed = 0
        for start in range(0, len(ids), 10000):
            chunk = ids[start : start + 10000]
            changed += Conversation.objects.filter(pk__in=chunk).update(
                status=status, leased_to=None, lease_expires_at=None, updated_at=now
            )
            Adjudication.objects.filter(
                conversation_id__in=chunk, status=AdjudicationStatus.OPEN
            ).update(
                status=AdjudicationStatus.RESOLVED,
                decision=decision,
                resolved_by=user,
                resolved_at=now,
                comment="bulk decision",
            )
        if audit:
            AuditEvent.record(
                actor=user,
                action=f"review.bulk_{decision}",
                dataset=dataset,
                count=changed,
                filter=description,
            )
        if status == ConversationStatus.APPROVED and dataset.purge_originals_after_approval and ids:
            purge_originals(dataset=dataset, user=user, conversation_ids=ids)
    return changed


def keep_one(*, dataset: Dataset, cluster: int, keep: Conversation, user: Any) -> int:
    """Keep one conversation of a near-duplicate cluster and reject the rest (an admin's
    decision, like a bulk reject). Returns how many were rejected."""
    if keep.dataset_id != dataset.pk or keep.near_dup_cluster != cluster:
        raise ValueError("that conversation is not in this cluster")
    with transaction.atomic():
        others = (
            dataset.conversations.filter(near_dup_cluster=cluster)
            .exclude(pk=keep.pk)
            .exclude(status=ConversationStatus.REJECTED)
        )
        rejected_ids = list(others.values_list("id", flat=True))
        decide_conversations(
            dataset=dataset,
            conversations=dataset.conversations.filter(pk__in=rejected_ids),
            decision="reject",
            user=user,
            any_status=True,
            audit=False,
        )
        AuditEvent.record(
            actor=user,
            action="duplicates.keep_one",
            obj=keep,
            dataset=dataset,
            cluster=cluster,
            rejected=rejected_ids,
        )
    return len(rejected_ids)
