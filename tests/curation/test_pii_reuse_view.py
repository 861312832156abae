"""The PII page shows how much of each run's text was reused from earlier analysis."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import JobStatus, PiiRun

pytestmark = pytest.mark.django_db


def test_the_pii_page_shows_each_runs_reuse_share(dataset, reviewer, client_for):
    PiiRun.objects.create(
        dataset=dataset,
        status=JobStatus.SUCCEEDED,
        total=10,
        done=10,
        messages_analyzed=200,
        messages_reused=170,
    )

    page = client_for(reviewer).get(reverse("pii_overview", args=[dataset.slug])).content.decode()

    assert '<td class="num">85%</td>' in page
    assert "Reused: the share of texts identical to one already analysed" in page


def test_the_pii_page_is_not_shown_to_outsiders(dataset, outsider, client_for):
    response = client_for(outsider).get(reverse("pii_overview", args=[dataset.slug]))

    assert response.status_code == 404
