"""The conversation list says how many match (exactly, or "about" past a limit), moves
through pages in both directions, reads its filters back in words, and lets an admin tick
rows (or all matching) for a bulk decision."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation import pagination
from curation.models import Conversation, ConversationStatus
from tests.factories import ConversationFactory, chat

pytestmark = pytest.mark.django_db


def test_the_list_shows_the_exact_match_count_and_the_rows_shown(client_for, dataset, reviewer):
    for n in range(7):
        ConversationFactory(dataset=dataset, original=chat(user=f"row {n}"))
    ConversationFactory(dataset=dataset, status=ConversationStatus.REJECTED)
    client = client_for(reviewer)
    url = reverse("conversation_list", args=[dataset.slug])
    page = client.get(url, {"status": "in_review"})
    assert page.context["matches"] == pagination.MatchCount(7, True)
    text = page.content.decode()
    assert "conversations match:" in text
    assert "Status: In review" in text
    assert "showing 1\u20137" in text


def test_past_the_exact_limit_the_count_is_an_estimate(client_for, dataset, reviewer, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 3)
    # More than one page: a page holding every match would know the count exactly.
    monkeypatch.setattr("curation.selectors.conversations.PER_PAGE", 2)
    for _ in range(6):
        ConversationFactory(dataset=dataset)
    # Fresh statistics so the planner's estimate is close to the truth.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Conversation._meta.db_table}")
    matches = pagination.count_matches(dataset.conversations.all(), limit=3)
    assert not matches.exact and matches.value >= 4
    monkeypatch.setattr(
        "curation.selectors.conversations.count_matches",
        lambda queryset: pagination.count_matches(queryset, limit=3),
    )
    text = client_for(reviewer).get(reverse("conversation_list", args=[dataset.slug]))
    assert "About " in text.content.decode()


def test_pages_go_newest_older_oldest_and_back(client_for, dataset, reviewer, monkeypatch):
    monkeypatch.setattr("curation.selectors.conversations.PER_PAGE", 2)
    rows = [ConversationFactory(dataset=dataset) for _ in range(5)]
    client = client_for(reviewer)
    url = reverse("conversation_list", args=[dataset.slug])
    first = client.get(url)
    assert [c.pk for c in first.context["page"]] == [rows[4].pk, rows[3].pk]
    text = first.content.decode()
    assert "Older →" in text and "Oldest »" in text and "« Newest" not in text
    oldest = client.get(url, {"before": "0"})
    assert [c.pk for c in oldest.context["page"]] == [rows[1].pk, rows[0].pk]
    text = oldest.content.decode()
    assert "Older →" not in text and "← Newer" in text and "« Newest" in text
    assert "showing 4\u20135" in text


def test_filters_read_as_words_on_the_bulk_page(client_for, dataset, admin_user):
    ConversationFactory(dataset=dataset, score_avg=4.5)
    page = client_for(admin_user).get(
        reverse("review_bulk", args=[dataset.slug]),
        {"status": "in_review", "flag": "passing", "score_min": "4"},
    )
    text = page.content.decode()
    assert "(status=in_review" not in text and "flag=passing)" not in text
    assert "Status: In review" in text
    assert "Problems: Passing (no blocking flag)" in text
    assert "Review score: at least 4" in text


def test_ticked_rows_narrow_the_bulk_decision_to_them(client_for, dataset, admin_user):
    rows = [ConversationFactory(dataset=dataset) for _ in range(4)]
    client = client_for(admin_user)
    url = reverse("review_bulk", args=[dataset.slug])
    ticked = {"id": [str(rows[0].pk), str(rows[2].pk)], "selected": "1"}
    confirm = client.get(url, ticked)
    assert confirm.context["count"] == 2
    assert "among the 2 you selected" in confirm.content.decode()
    client.post(url, {"id": ticked["id"], "decision": "reject"})
    statuses = dict(Conversation.objects.values_list("id", "status"))
    assert [statuses[r.pk] for r in rows] == ["rejected", "in_review", "rejected", "in_review"]


def test_select_all_matching_ignores_the_ticked_rows(client_for, dataset, admin_user):
    rows = [ConversationFactory(dataset=dataset) for _ in range(3)]
    confirm = client_for(admin_user).get(
        reverse("review_bulk", args=[dataset.slug]),
        {"id": [str(rows[0].pk)], "all_matching": "1"},
    )
    assert confirm.context["count"] == 3


def test_row_checkboxes_are_for_dataset_admins_only(client_for, dataset, admin_user, reviewer):
    ConversationFactory(dataset=dataset)
    url = reverse("conversation_list", args=[dataset.slug])
    assert 'name="id"' in client_for(admin_user).get(url).content.decode()
    assert 'name="id"' not in client_for(reviewer).get(url).content.decode()


def test_a_set_far_past_the_limit_is_estimated_without_counting(dataset, django_assert_num_queries):
    for _ in range(6):
        ConversationFactory(dataset=dataset)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Conversation._meta.db_table}")
    with django_assert_num_queries(1):  # the EXPLAIN only
        matches = pagination.count_matches(dataset.conversations.all(), limit=0)
    assert not matches.exact and matches.value >= 1
