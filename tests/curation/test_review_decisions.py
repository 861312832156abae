"""Review decisions: the approval rules, adjudication, scores and their audit."""

from __future__ import annotations

import pytest

from curation.models import (
    Adjudication,
    AdjudicationStatus,
    AuditEvent,
    Conversation,
    ConversationStatus,
    Review,
)
from curation.services.reviews.decisions import adjudicate, outcome, submit_review
from curation.services.reviews.errors import ReviewError
from curation.services.reviews.queue import claim_next
from tests.factories import ConversationFactory, member

pytestmark = pytest.mark.django_db

FULL = {"helpfulness": 4, "accuracy": 5, "tone": 3}


@pytest.mark.parametrize(
    ("decisions", "needed", "rule", "expected"),
    [
        (["approve"], 2, "unanimous", None),
        (["approve"], 1, "unanimous", "approve"),
        (["reject"], 1, "unanimous", "reject"),
        (["approve", "approve"], 2, "unanimous", "approve"),
        (["reject", "reject"], 2, "unanimous", "reject"),
        (["approve", "reject"], 2, "unanimous", "conflict"),
        (["approve", "approve", "reject"], 3, "unanimous", "conflict"),
        (["approve", "approve", "reject"], 3, "majority", "approve"),
        (["reject", "reject", "approve"], 3, "majority", "reject"),
        (["approve", "reject"], 2, "majority", "conflict"),
    ],
)
def test_outcome(decisions, needed, rule, expected):
    assert outcome(decisions, needed=needed, rule=rule) == expected


def _review_as(dataset, conversation, user, decision):  # type: ignore[no-untyped-def]
    conversation = Conversation.objects.select_related("dataset").get(pk=conversation.pk)
    return submit_review(conversation=conversation, reviewer=user, decision=decision, scores=FULL)


def test_unanimous_two_reviews_approve(dataset):
    dataset.reviews_needed = 2
    dataset.save()
    conversation = ConversationFactory(dataset=dataset)
    alice, bob = member(dataset, "alice"), member(dataset, "bob")
    _review_as(dataset, conversation, alice, "approve")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.IN_REVIEW
    _review_as(dataset, conversation, bob, "approve")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.APPROVED
    assert conversation.review_count == 2 and conversation.score_avg == pytest.approx(4.0)
    assert not Adjudication.objects.exists()


def test_unanimous_disagreement_goes_to_adjudication_and_the_admin_decides(dataset, admin_user):
    dataset.reviews_needed = 2
    dataset.save()
    conversation = ConversationFactory(dataset=dataset)
    alice, bob = member(dataset, "alice"), member(dataset, "bob")
    _review_as(dataset, conversation, alice, "approve")
    _review_as(dataset, conversation, bob, "reject")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.IN_REVIEW
    adjudication = Adjudication.objects.get(conversation=conversation)
    assert adjudication.status == AdjudicationStatus.OPEN
    # Nobody else gets it from the queue: it has all its reviews.
    assert claim_next(dataset=dataset, reviewer=member(dataset, "carol")) is None
    adjudicate(adjudication=adjudication, admin=admin_user, decision="reject", comment="off-brand")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.REJECTED
    assert AuditEvent.objects.filter(action="review.adjudicate", actor=admin_user).exists()
    # The admin's decision is final: a reviewer changing their mind does not undo it.
    with pytest.raises(ReviewError, match="final"):
        _review_as(dataset, conversation, bob, "approve")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.REJECTED


def test_majority_of_three(dataset):
    dataset.reviews_needed = 3
    dataset.approval_rule = "majority"
    dataset.save()
    conversation = ConversationFactory(dataset=dataset)
    for name, decision in (("a", "approve"), ("b", "reject"), ("c", "approve")):
        _review_as(dataset, conversation, member(dataset, name), decision)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.APPROVED
    assert not Adjudication.objects.filter(conversation=conversation).exists()


def test_majority_tie_is_a_conflict_and_a_changed_mind_dissolves_it(dataset):
    dataset.reviews_needed = 2
    dataset.approval_rule = "majority"
    dataset.save()
    conversation = ConversationFactory(dataset=dataset)
    alice, bob = member(dataset, "alice"), member(dataset, "bob")
    _review_as(dataset, conversation, alice, "approve")
    _review_as(dataset, conversation, bob, "reject")
    assert Adjudication.objects.filter(conversation=conversation, status="open").exists()
    _review_as(dataset, conversation, bob, "approve")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.APPROVED
    assert not Adjudication.objects.filter(conversation=conversation).exists()
    assert Review.objects.filter(conversation=conversation).count() == 2
    assert AuditEvent.objects.filter(action="review.update", actor=bob).exists()


def test_approval_needs_every_score_and_scores_are_1_to_5(dataset):
    conversation = ConversationFactory(dataset=dataset)
    alice = member(dataset, "alice")
    with pytest.raises(ReviewError, match="Score every criterion"):
        submit_review(
            conversation=conversation, reviewer=alice, decision="approve", scores={"tone": 3}
        )
    with pytest.raises(ReviewError, match="1 to 5"):
        submit_review(
            conversation=conversation, reviewer=alice, decision="reject", scores={"tone": 9}
        )
    assert not Review.objects.exists()
    # A rejection may leave criteria unscored.
    review = submit_review(
        conversation=conversation, reviewer=alice, decision="reject", scores={"tone": 1}
    )
    assert review.scores == {"tone": 1}


def test_a_conversation_with_enough_reviews_refuses_more(dataset):
    conversation = ConversationFactory(dataset=dataset)
    _review_as(dataset, conversation, member(dataset, "alice"), "approve")
    with pytest.raises(ReviewError, match="all the reviews"):
        _review_as(dataset, conversation, member(dataset, "bob"), "approve")


def test_submit_records_time_and_audits(dataset):
    conversation = ConversationFactory(dataset=dataset)
    alice = member(dataset, "alice")
    submit_review(
        conversation=conversation, reviewer=alice, decision="approve", scores=FULL, seconds=12.5
    )
    review = Review.objects.get()
    assert review.seconds == 12.5 and review.dataset == dataset
    event = AuditEvent.objects.get(action="review.submit")
    assert (
        event.actor == alice
        and event.details["decision"] == "approve"
        and event.details["scores"] == FULL
    )
