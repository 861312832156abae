"""The conversation list stays cheap on big datasets: common filters are estimated without
counting, a handful of matches is read by id, and a page that holds every match says exactly
how many there are whatever the estimate was."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from curation import pagination
from curation.models import Conversation
from curation.models.conversations import search_vector
from curation.selectors import conversations as conversation_selectors
from tests.factories import ConversationFactory, chat

pytestmark = pytest.mark.django_db


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Conversation._meta.db_table}")


def test_an_estimate_over_twice_the_limit_is_shown_without_counting(
    dataset, django_assert_num_queries
):
    for _ in range(8):
        ConversationFactory(dataset=dataset)
    analyze()

    with django_assert_num_queries(1):  # the EXPLAIN only
        matches = pagination.count_matches(dataset.conversations.all(), limit=3)

    assert matches == pagination.MatchCount(8, False)


def test_an_estimate_near_the_limit_is_counted_exactly(dataset):
    for _ in range(5):
        ConversationFactory(dataset=dataset)
    analyze()

    assert pagination.count_matches(dataset.conversations.all(), limit=5) == (
        pagination.MatchCount(5, True)
    )


def test_a_page_holding_every_match_shows_the_exact_count(
    client_for, dataset, reviewer, monkeypatch
):
    for _ in range(3):
        ConversationFactory(dataset=dataset)
    # A full-text estimate can be thousands of times the truth.
    monkeypatch.setattr(
        conversation_selectors, "count_matches", lambda queryset: pagination.MatchCount(5000, False)
    )

    page = client_for(reviewer).get(reverse("conversation_list", args=[dataset.slug]))

    assert page.context["matches"] == pagination.MatchCount(3, True)
    assert "About" not in page.content.decode()
    assert "showing 1\u20133" in page.content.decode()


def test_few_matches_are_read_by_id_and_page_like_any_other(
    client_for, dataset, reviewer, monkeypatch
):
    monkeypatch.setattr(conversation_selectors, "PER_PAGE", 2)
    rare = [
        ConversationFactory(dataset=dataset, original=chat(user="zebra crossing")) for _ in range(3)
    ]
    for _ in range(4):
        ConversationFactory(dataset=dataset, original=chat(user="plain question"))
    client = client_for(reviewer)
    url = reverse("conversation_list", args=[dataset.slug])
    Conversation.objects.update(search_vector=search_vector())  # as the quality job does

    with CaptureQueriesContext(connection) as queries:
        first = client.get(url, {"q": "zebra"})
    # Read now: the next request clears the connection's query log.
    page_query = [q["sql"] for q in queries.captured_queries if q["sql"].endswith("LIMIT 3")]
    older = client.get(url, {"q": "zebra", "after": first.context["page"].next_after})

    assert [c.pk for c in first.context["page"]] == [rare[2].pk, rare[1].pk]
    assert [c.pk for c in older.context["page"]] == [rare[0].pk]
    assert first.context["matches"] == pagination.MatchCount(3, True)
    assert len(page_query) == 1 and '"curation_conversation"."id" IN (' in page_query[0]
