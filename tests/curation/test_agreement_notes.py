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


# (where, user, what it says with none, what it says with one)
NOTES = {
    "dashboard": (
        dashboard_note,
        "reviewer",
        "none is yet",
        "Over 1 conversation reviewed by two or more people.",
    ),
    "stats": (
        stats_note,
        "admin_user",
        "conversations with two or more reviews (none yet)",
        "over the 1 conversation with two or more reviews:",
    ),
}


@pytest.mark.parametrize("page", NOTES)
def test_without_doubly_reviewed_conversations_the_note_says_none_yet(
    client_for, dataset, request, page
):
    read, user, none_yet, _ = NOTES[page]
    ConversationFactory(dataset=dataset)
    note = read(client_for(request.getfixturevalue(user)), dataset)
    assert none_yet in note and " 0 conversations" not in note and "Over 0" not in note


@pytest.mark.parametrize("page", NOTES)
def test_with_one_doubly_reviewed_conversation_the_note_counts_it(
    client_for, dataset, request, page
):
    read, user, _, counted = NOTES[page]
    reviewed_twice(dataset)
    assert counted in read(client_for(request.getfixturevalue(user)), dataset)
