"""The dashboard's agreement card says what its figures rest on, also before there is any."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ConversationFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db


def agreement_note(client, dataset) -> str:  # type: ignore[no-untyped-def]
    text = client.get(reverse("dataset_detail", args=[dataset.slug])).content.decode()
    card = text[text.index('id="dashboard-agreement"') :]
    return card[card.index('<p class="muted small">') : card.index("</p>")]


def test_without_doubly_reviewed_conversations_the_card_says_none_is_yet(
    client_for, dataset, reviewer
):
    ConversationFactory(dataset=dataset)
    note = agreement_note(client_for(reviewer), dataset)
    assert "none is yet" in note and "Over 0" not in note


def test_with_one_doubly_reviewed_conversation_the_card_counts_it(client_for, dataset, reviewer):
    conversation = ConversationFactory(dataset=dataset, review_count=2)
    for user in (UserFactory(), UserFactory()):
        ReviewFactory(conversation=conversation, reviewer=user, decision="approve")
    note = agreement_note(client_for(reviewer), dataset)
    assert "Over 1 conversation reviewed by two or more people." in note
