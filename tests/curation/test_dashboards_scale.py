"""A large dataset's dashboard reads estimates and bounded samples instead of counting every
row per page view (the limit is lowered here so a few rows count as large)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from curation.models import Conversation, Review
from curation.selectors import dashboards
from tests.factories import ConversationFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db


def analyze() -> None:
    with connection.cursor() as cursor:
        for model in (Conversation, Review):
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def test_a_small_dataset_is_counted_exactly(dataset):
    for _ in range(3):
        ConversationFactory(dataset=dataset)
    counts = dashboards.status_counts(dataset)
    assert counts["total"] == 3 and counts["in_review"] == 3 and not counts["estimated"]
    assert not dashboards.review_progress(dataset)["estimated"]


def test_a_large_dataset_uses_estimates_and_says_so(client_for, dataset, reviewer, monkeypatch):
    monkeypatch.setattr(dashboards, "DASHBOARD_EXACT_LIMIT", 0)
    monkeypatch.setattr(dashboards, "AGREEMENT_SAMPLE", 2)
    others = [UserFactory(), UserFactory()]
    for _ in range(4):
        conversation = ConversationFactory(dataset=dataset, review_count=2)
        for user in others:
            ReviewFactory(conversation=conversation, reviewer=user, decision="approve")
    analyze()
    counts = dashboards.status_counts(dataset)
    assert counts["estimated"] and counts["total"] >= 1
    assert dashboards.review_progress(dataset)["estimated"]
    found = dashboards.agreement(dataset)
    assert found["sampled"] and found["units"] == 2  # the latest two conversations only
    page = client_for(reviewer).get(reverse("dataset_detail", args=[dataset.slug]))
    text = page.content.decode()
    assert 'id="counts-estimated"' in text
    assert "about " in text
    assert "Over the latest 2 conversations" in text


def test_sampled_charts_scale_their_counts_back_up(dataset, monkeypatch):
    for _ in range(5):
        ConversationFactory(dataset=dataset)
    analyze()
    exact = dashboards.token_histogram(dataset)
    # The whole table is smaller than the sample: read in full, so the same numbers.
    assert dashboards.token_histogram(dataset, large=True) == exact
    monkeypatch.setattr(dashboards, "ROW_SAMPLE", 1)
    assert dashboards._sample_percent(1000) == pytest.approx(0.1)
