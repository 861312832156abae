"""The bulk confirmation and the list's match line name every filter, production feedback
included ("14 conversations match: ·" named nothing)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from curation.selectors.conversations import FEEDBACK_FILTERS, ConversationFilter
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_every_filter_has_words_in_the_summary():
    params = {
        "status": "in_review",
        "flag": "any",
        "batch": "3",
        "reviewer": "rita",
        "score_min": "2",
        "quality_max": "0.5",
        "cluster": "7",
        "q": "refund",
        "feedback": "up",
    }
    chosen = ConversationFilter.from_params(params)
    assert len(chosen.summary()) == len(chosen.filters)
    assert ("Feedback", "Thumbs up") in chosen.summary()
    for key in FEEDBACK_FILTERS:
        assert ConversationFilter.from_params({"feedback": key}).summary()


def test_bulk_confirmation_names_the_feedback_filter(dataset, admin_user, client_for):
    ConversationFactory(dataset=dataset, metadata={"feedback": "up"})
    ConversationFactory(dataset=dataset, metadata={"feedback": "down"})
    client = client_for(admin_user)
    page = client.get(reverse("review_bulk", args=[dataset.slug]) + "?feedback=up")
    text = page.content.decode()
    assert '<strong id="bulk-count">1</strong>' in text
    assert '<span class="chip">Feedback: Thumbs up</span>' in text


def test_the_list_match_line_names_the_feedback_filter(dataset, admin_user, client_for):
    ConversationFactory(dataset=dataset, metadata={"feedback": "up"})
    page = client_for(admin_user).get(
        reverse("conversation_list", args=[dataset.slug]) + "?feedback=up"
    )
    line = re.search(
        r'<p class="filter-summary" id="match-count">(.*?)</p>', page.content.decode(), re.S
    )
    assert line and "Feedback: Thumbs up" in line.group(1)
