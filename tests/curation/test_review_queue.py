"""The review queue: claims, leases, skips, and the reviewer's history (J/K)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from curation.models import AuditEvent, Conversation, ConversationStatus, ReviewSkip
from curation.selectors.review_queue import neighbours
from curation.services.reviews.decisions import submit_review
from curation.services.reviews.errors import ReviewError
from curation.services.reviews.queue import claim_next, skip
from tests.factories import (
    ConversationFactory,
    DatasetFactory,
    ReviewFactory,
    member,
)

pytestmark = pytest.mark.django_db

FULL = {"helpfulness": 4, "accuracy": 5, "tone": 3}


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


def test_neighbours_walk_my_review_history(dataset):
    alice = member(dataset, "alice")
    one, two, three = (ConversationFactory(dataset=dataset) for _ in range(3))
    for conversation in (one, two):
        ReviewFactory(conversation=conversation, reviewer=alice)
    assert neighbours(dataset=dataset, reviewer=alice, conversation=three) == (two.pk, None)
    assert neighbours(dataset=dataset, reviewer=alice, conversation=two) == (one.pk, None)
    assert neighbours(dataset=dataset, reviewer=alice, conversation=one) == (None, two.pk)
