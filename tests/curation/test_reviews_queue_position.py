"""Where a reviewer stands in the queue: one lease at a time, "N left", what is not offered
and why, and the confirmation after a decision."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import Adjudication, Conversation, ReviewSkip
from curation.selectors import review_queue
from curation.selectors.review_queue import queue_explanation, queue_position
from curation.services.reviews.queue import claim, claim_next
from tests.factories import ConversationFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_opening_thirty_review_urls_leaves_the_reviewer_one_lease(client, dataset, reviewer):
    conversations = [ConversationFactory(dataset=dataset) for _ in range(30)]
    client.force_login(reviewer)
    for conversation in conversations:
        url = reverse("review_conversation", args=[dataset.slug, conversation.pk])
        assert client.get(url).status_code == 200
    held = list(Conversation.objects.filter(leased_to=reviewer).values_list("id", flat=True))
    assert held == [conversations[-1].pk]


def test_the_lease_moves_to_the_conversation_opened_by_address_in_that_dataset_only(
    dataset, reviewer
):
    from tests.factories import DatasetFactory, MembershipFactory

    other = DatasetFactory(slug="other")
    MembershipFactory(dataset=other, user=reviewer)
    elsewhere = claim_next(dataset=other, reviewer=reviewer) or ConversationFactory(dataset=other)
    claim(conversation=elsewhere, reviewer=reviewer)
    first, second = ConversationFactory(dataset=dataset), ConversationFactory(dataset=dataset)
    assert claim(conversation=first, reviewer=reviewer)
    assert claim(conversation=second, reviewer=reviewer)
    held = set(Conversation.objects.filter(leased_to=reviewer).values_list("id", flat=True))
    assert held == {elsewhere.pk, second.pk}


def test_exact_duplicates_are_never_offered_and_the_empty_queue_says_why(
    client, dataset, reviewer, admin_user
):
    ConversationFactory(dataset=dataset, flags=["duplicate", "near_duplicate"])
    ConversationFactory(dataset=dataset, flags=["duplicate"])
    skipped = ConversationFactory(dataset=dataset)
    ReviewSkip.objects.create(conversation=skipped, reviewer=reviewer)
    held = ConversationFactory(dataset=dataset)
    assert claim(conversation=held, reviewer=admin_user)
    assert claim_next(dataset=dataset, reviewer=reviewer) is None
    client.force_login(reviewer)
    page = client.get(reverse("review_start", args=[dataset.slug])).content.decode()
    assert "Nothing left for you to review" in page
    assert "2 exact duplicates of other conversations" in page
    assert "1 you skipped" in page
    assert "1 another reviewer is working on" in page


def test_conflicts_waiting_for_an_admin_are_explained(dataset, reviewer):
    dataset.reviews_needed = 2
    dataset.save()
    conflict = ConversationFactory(dataset=dataset, review_count=2)
    ReviewFactory(conversation=conflict, reviewer=UserFactory(), decision="approve")
    ReviewFactory(conversation=conflict, reviewer=UserFactory(), decision="reject")
    Adjudication.objects.create(conversation=conflict, dataset=dataset)
    reasons = queue_explanation(dataset=dataset, reviewer=reviewer)
    assert reasons == [{"reason": "conflict", "count": 1}]


def test_the_review_page_says_how_many_are_left_and_how_many_i_reviewed(client, dataset, reviewer):
    conversations = [ConversationFactory(dataset=dataset) for _ in range(4)]
    ReviewFactory(conversation=conversations[0], reviewer=reviewer, decision="approve")
    client.force_login(reviewer)
    url = reverse("review_conversation", args=[dataset.slug, conversations[1].pk])
    page = client.get(url).content.decode()
    assert "3 left for you" in page
    assert "1 reviewed by you" in page


def test_left_is_capped_so_a_huge_queue_is_not_counted_row_by_row(dataset, reviewer, monkeypatch):
    monkeypatch.setattr(review_queue, "LEFT_CAP", 3)
    for _ in range(5):
        ConversationFactory(dataset=dataset)
    position = queue_position(dataset=dataset, reviewer=reviewer)
    assert position == {"left": 3, "more": True, "reviewed": 0}


def test_a_prefetched_page_counts_the_decision_on_screen_as_done(client, dataset, reviewer):
    first, _second, _third = (ConversationFactory(dataset=dataset) for _ in range(3))
    client.force_login(reviewer)
    url = reverse("review_start", args=[dataset.slug]) + f"?exclude={first.pk}"
    page = client.get(url, **HTMX).content.decode()
    assert "2 left for you" in page
    assert "1 reviewed by you" in page


def test_a_decision_is_confirmed_with_and_without_htmx(client, dataset, reviewer):
    first, second = ConversationFactory(dataset=dataset), ConversationFactory(dataset=dataset)
    client.force_login(reviewer)
    url = reverse("review_conversation", args=[dataset.slug, first.pk])
    page = client.post(url, {"action": "reject"}, **HTMX).content.decode()
    assert f"Rejected conversation {first.pk}." in page
    assert f'data-conversation="{second.pk}"' in page
    url = reverse("review_conversation", args=[dataset.slug, second.pk])
    response = client.post(url, {"action": "skip"}, follow=True)
    assert f"Skipped conversation {second.pk}." in response.content.decode()


def test_a_review_made_seconds_ago_reads_just_now(client, dataset, reviewer):
    conversation = ConversationFactory(dataset=dataset)
    ReviewFactory(conversation=conversation, reviewer=reviewer, decision="approve")
    client.force_login(reviewer)
    page = client.get(reverse("review_conversation", args=[dataset.slug, conversation.pk]))
    text = page.content.decode()
    assert "this just now" in text
    assert "0 minutes" not in text
