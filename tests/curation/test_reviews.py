"""The review workflow's rules: the queue and its leases, approval rules, adjudication, edits."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from curation.models import (
    Adjudication,
    AdjudicationStatus,
    AuditEvent,
    Conversation,
    ConversationRevision,
    ConversationStatus,
    Review,
    ReviewSkip,
    Role,
)
from curation.selectors.chat import message_segments
from curation.selectors.review_queue import neighbours
from curation.services.reviews.decisions import adjudicate, outcome, submit_review
from curation.services.reviews.edits import edit_message
from curation.services.reviews.errors import ReviewError
from curation.services.reviews.queue import claim_next, skip
from tests.factories import (
    ConversationFactory,
    DatasetFactory,
    MembershipFactory,
    PiiFindingFactory,
    ReviewFactory,
    UserFactory,
    chat,
)

pytestmark = pytest.mark.django_db

FULL = {"helpfulness": 4, "accuracy": 5, "tone": 3}


def member(dataset, name, role=Role.REVIEWER):  # type: ignore[no-untyped-def]
    user = UserFactory(username=name)
    MembershipFactory(dataset=dataset, user=user, role=role)
    return user


# -- the queue -------------------------------------------------------------------------------


def test_queue_hands_out_in_order_and_never_the_same_to_two_reviewers(dataset):
    first, second, third = (ConversationFactory(dataset=dataset) for _ in range(3))
    alice, bob = member(dataset, "alice"), member(dataset, "bob")
    got_alice = claim_next(dataset=dataset, reviewer=alice)
    got_bob = claim_next(dataset=dataset, reviewer=bob)
    assert got_alice.pk == first.pk
    assert got_bob.pk == second.pk
    first.refresh_from_db()
    assert first.leased_to == alice and first.lease_expires_at > timezone.now()
    # Asking again (a reload) returns the conversation already held, not a new one.
    assert claim_next(dataset=dataset, reviewer=alice).pk == first.pk
    assert third.pk not in {first.pk, second.pk}


def test_queue_skips_what_i_reviewed_skipped_or_what_is_not_in_review(dataset):
    alice = member(dataset, "alice")
    ConversationFactory(dataset=dataset, status=ConversationStatus.PENDING_PII)
    ConversationFactory(dataset=dataset, status=ConversationStatus.APPROVED)
    reviewed = ConversationFactory(dataset=dataset)
    ReviewFactory(conversation=reviewed, reviewer=alice)
    skipped = ConversationFactory(dataset=dataset)
    ReviewSkip.objects.create(conversation=skipped, reviewer=alice)
    full = ConversationFactory(dataset=dataset, review_count=1)  # needs 1 review, has 1
    wanted = ConversationFactory(dataset=dataset)
    assert claim_next(dataset=dataset, reviewer=alice).pk == wanted.pk
    assert full.pk != wanted.pk


def test_queue_gives_a_partly_reviewed_conversation_to_a_second_reviewer(dataset):
    dataset.reviews_needed = 2
    dataset.save()
    alice, bob = member(dataset, "alice"), member(dataset, "bob")
    conversation = ConversationFactory(dataset=dataset)
    claimed = claim_next(dataset=dataset, reviewer=alice)
    submit_review(conversation=claimed, reviewer=alice, decision="approve", scores=FULL)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.IN_REVIEW and conversation.review_count == 1
    assert claim_next(dataset=dataset, reviewer=bob).pk == conversation.pk
    assert claim_next(dataset=dataset, reviewer=alice) is None


def test_an_expired_lease_frees_the_conversation(dataset):
    only = ConversationFactory(dataset=dataset)
    alice, bob = member(dataset, "alice"), member(dataset, "bob")
    assert claim_next(dataset=dataset, reviewer=alice).pk == only.pk
    assert claim_next(dataset=dataset, reviewer=bob) is None
    Conversation.objects.filter(pk=only.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    taken = claim_next(dataset=dataset, reviewer=bob)
    assert taken is not None and taken.pk == only.pk
    only.refresh_from_db()
    assert only.leased_to == bob
    # Alice's lease ran out and Bob holds it now: her late decision is refused.
    with pytest.raises(ReviewError, match="lease"):
        submit_review(conversation=only, reviewer=alice, decision="approve", scores=FULL)


def test_lease_length_follows_the_setting(dataset, settings):
    settings.CURATOR_REVIEW_LEASE_SECONDS = 60
    ConversationFactory(dataset=dataset)
    alice = member(dataset, "alice")
    before = timezone.now()
    claimed = claim_next(dataset=dataset, reviewer=alice)
    claimed.refresh_from_db()
    assert (
        before + timedelta(seconds=59)
        <= claimed.lease_expires_at
        <= timezone.now() + timedelta(seconds=61)
    )


def test_prefetch_keeps_the_current_lease_and_holds_at_most_two(dataset):
    first, second, third = (ConversationFactory(dataset=dataset) for _ in range(3))
    alice = member(dataset, "alice")
    assert claim_next(dataset=dataset, reviewer=alice).pk == first.pk
    assert claim_next(dataset=dataset, reviewer=alice, exclude=[first.pk]).pk == second.pk
    held = set(Conversation.objects.filter(leased_to=alice).values_list("id", flat=True))
    assert held == {first.pk, second.pk}
    # Deciding the first makes the prefetched second the next one; third is still free.
    submit_review(conversation=first, reviewer=alice, decision="reject", scores={})
    assert claim_next(dataset=dataset, reviewer=alice).pk == second.pk
    assert set(Conversation.objects.filter(leased_to=alice).values_list("id", flat=True)) == {
        second.pk
    }
    third.refresh_from_db()
    assert third.leased_to is None


def test_skip_records_it_and_moves_on(dataset):
    first, second = ConversationFactory(dataset=dataset), ConversationFactory(dataset=dataset)
    alice = member(dataset, "alice")
    claimed = claim_next(dataset=dataset, reviewer=alice)
    skip(conversation=claimed, reviewer=alice)
    first.refresh_from_db()
    assert first.leased_to is None
    assert claim_next(dataset=dataset, reviewer=alice).pk == second.pk
    assert AuditEvent.objects.filter(
        action="review.skip", object_id=str(first.pk), actor=alice
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_claim_skips_a_row_locked_by_a_concurrent_claim():
    """SKIP LOCKED: while another transaction holds the first row, the queue hands out the
    second at once instead of waiting or handing out the same one."""
    dataset = DatasetFactory(slug="concurrent")
    first, second = ConversationFactory(dataset=dataset), ConversationFactory(dataset=dataset)
    alice, bob = member(dataset, "alice"), member(dataset, "bob")
    locked, release = threading.Event(), threading.Event()

    def hold_first_row() -> None:
        try:
            with transaction.atomic():
                Conversation.objects.select_for_update().get(pk=first.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_first_row)
    holder.start()
    try:
        assert locked.wait(30)
        assert claim_next(dataset=dataset, reviewer=bob).pk == second.pk
    finally:
        release.set()
        holder.join()
    assert claim_next(dataset=dataset, reviewer=alice).pk == first.pk


# -- approval rules -----------------------------------------------------------------------------


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


# -- edits --------------------------------------------------------------------------------------


def test_edit_saves_a_revision_keeps_the_original_and_refreshes_signals(dataset):
    conversation = ConversationFactory(
        dataset=dataset, original=chat(assistant="Sure."), token_count=20
    )
    alice = member(dataset, "alice")
    new_text = "Sure! Write to help@example.com and we will reset your password within the hour."
    revision = edit_message(conversation=conversation, user=alice, message_index=2, text=new_text)
    assert isinstance(revision, ConversationRevision)
    conversation.refresh_from_db()
    assert conversation.original[2]["content"] == "Sure."
    assert conversation.current_messages()[2]["content"] == new_text
    assert revision.before == "Sure." and revision.after == new_text
    assert ("del", "-Sure.") in revision.diff_lines() and (
        "add",
        f"+{new_text}",
    ) in revision.diff_lines()
    # Tokens were recounted from the edited text and the quality signals refreshed.
    assert conversation.assistant_tokens > 5
    assert "short_assistant_reply" not in conversation.flags
    assert conversation.quality_score is not None and conversation.minhash
    event = AuditEvent.objects.get(action="conversation.edit")
    assert event.actor == alice and event.details["message_index"] == 2


def test_edit_rescans_the_message_for_pii(dataset):
    conversation = ConversationFactory(dataset=dataset, original=chat(assistant="Happy to help."))
    stale = PiiFindingFactory(conversation=conversation, message_index=2, start=0, end=5)
    edit_message(
        conversation=conversation,
        user=member(dataset, "alice"),
        message_index=2,
        text="Please e-mail jane.doe@example.com for a refund.",
    )
    findings = list(conversation.findings.filter(message_index=2))
    assert stale.pk not in {finding.pk for finding in findings}
    assert any(finding.entity_type == "EMAIL_ADDRESS" for finding in findings)


def test_only_assistant_messages_can_be_edited_and_not_to_nothing(dataset):
    conversation = ConversationFactory(dataset=dataset)
    alice = member(dataset, "alice")
    with pytest.raises(ReviewError, match="assistant"):
        edit_message(conversation=conversation, user=alice, message_index=1, text="changed")
    with pytest.raises(ReviewError, match="empty"):
        edit_message(conversation=conversation, user=alice, message_index=2, text="   ")
    assert (
        edit_message(
            conversation=conversation,
            user=alice,
            message_index=2,
            text=conversation.original[2]["content"],
        )
        is None
    )
    assert not ConversationRevision.objects.exists()


def test_latest_revision_wins(dataset):
    conversation = ConversationFactory(dataset=dataset)
    ConversationRevision.objects.create(
        conversation=conversation, message_index=2, before="a", after="first edit"
    )
    ConversationRevision.objects.create(
        conversation=conversation, message_index=2, before="b", after="second edit"
    )
    fresh = Conversation.objects.get(pk=conversation.pk)
    assert fresh.current_messages()[2]["content"] == "second edit"
    assert fresh.current_messages()[1] == conversation.original[1]


# -- history ------------------------------------------------------------------------------------


def test_neighbours_walk_my_review_history(dataset):
    alice = member(dataset, "alice")
    one, two, three = (ConversationFactory(dataset=dataset) for _ in range(3))
    for conversation in (one, two):
        ReviewFactory(conversation=conversation, reviewer=alice)
    assert neighbours(dataset=dataset, reviewer=alice, conversation=three) == (two.pk, None)
    assert neighbours(dataset=dataset, reviewer=alice, conversation=two) == (one.pk, None)
    assert neighbours(dataset=dataset, reviewer=alice, conversation=one) == (None, two.pk)


# -- display ------------------------------------------------------------------------------------


def test_message_segments_mark_pii_split_code_and_pretty_print_tools(dataset):
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "I am Maria Lopez"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q":"x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'},
        {"role": "assistant", "content": "Run:\n```python\nprint('<b>')\n```\nDone."},
    ]
    conversation = ConversationFactory(dataset=dataset, original=messages)
    PiiFindingFactory(
        conversation=conversation, message_index=1, start=5, end=16, entity_type="PERSON"
    )
    shown = message_segments(Conversation.objects.get(pk=conversation.pk))
    user = shown[1]["blocks"][0]["segments"]
    assert [s["text"] for s in user] == ["I am ", "Maria Lopez"]
    assert user[1]["finding"].entity_type == "PERSON"
    assert shown[2]["tool_calls"][0]["name"] == "lookup"
    assert '"q": "x"' in shown[2]["tool_calls"][0]["pretty"]
    assert (
        shown[3]["blocks"][0]["kind"] == "code"
        and '"ok": true' in shown[3]["blocks"][0]["segments"][0]["text"]
    )
    kinds = [(block["kind"], block["lang"]) for block in shown[4]["blocks"]]
    assert kinds == [("text", ""), ("code", "python"), ("text", "")]
    assert shown[4]["blocks"][1]["segments"][0]["text"] == "print('<b>')"
