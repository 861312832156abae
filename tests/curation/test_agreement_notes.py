"""The dashboard's agreement card and the stats page say what agreement rests on, also
before there is any."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ConversationFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db


def dashboard_note(client, dataset) -> str:  # type: ignore[no-untyped-def]
    text = client.get(reverse("dataset_detail", args=[dataset.slug])).content.decode()
    card = text[text.index('id="dashboard-agreement"') :]
    return card[card.index('<p class="muted small">') : card.index("</p>")]


def stats_note(client, dataset) -> str:  # type: ignore[no-untyped-def]
    text = client.get(reverse("review_stats", args=[dataset.slug])).content.decode()
    start = text.index("Krippendorff's alpha over")
    return text[start : text.index("</p>", start)]


def reviewed_twice(dataset) -> None:  # type: ignore[no-untyped-def]
    conversation = ConversationFactory(dataset=dataset, review_count=2)
    for user in (UserFactory(), UserFactory()):
        ReviewFactory(conversation=conversation, reviewer=user, decision="approve")


def test_without_doubly_reviewed_conversations_the_dashboard_says_none_is_yet(
    client_for, dataset, reviewer
):
    ConversationFactory(dataset=dataset)
    note = dashboard_note(client_for(reviewer), dataset)
    assert "none is yet" in note and "Over 0" not in note


def test_with_one_doubly_reviewed_conversation_the_dashboard_counts_it(
    client_for, dataset, reviewer
):
    reviewed_twice(dataset)
    note = dashboard_note(client_for(reviewer), dataset)
    assert "Over 1 conversation reviewed by two or more people." in note


def test_without_doubly_reviewed_conversations_the_stats_page_says_none_yet(
    client_for, dataset, admin_user
):
    ConversationFactory(dataset=dataset)
    note = stats_note(client_for(admin_user), dataset)
    assert "(none yet)" in note and " 0 conversations" not in note


def test_with_one_doubly_reviewed_conversation_the_stats_page_counts_it(
    client_for, dataset, admin_user
):
    reviewed_twice(dataset)
    note = stats_note(client_for(admin_user), dataset)
    assert "over the 1 conversation with two or more reviews:" in note
