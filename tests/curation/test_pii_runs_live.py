"""The PII page's runs table follows a running detection and stops refreshing when it ends,
instead of showing "Running 400 / 985" until a reload."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from curation.models import JobStatus, PiiRun

pytestmark = pytest.mark.django_db


def fragment(client, dataset) -> str:  # type: ignore[no-untyped-def]
    url = reverse("pii_overview", args=[dataset.slug]) + "?fragment=progress"
    return client.get(url, HTTP_HX_REQUEST="true").content.decode()


def runs_row(html: str) -> str:
    table = re.search(r'<section class="card" id="pii-runs">.*?</section>', html, re.S)
    assert table, "the runs table is not in the refreshed fragment"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", table.group(0)))


def test_the_runs_table_refreshes_while_running_and_stops_when_done(dataset, reviewer, client_for):
    run = PiiRun.objects.create(dataset=dataset, status=JobStatus.RUNNING, done=400, total=985)
    client = client_for(reviewer)
    running = fragment(client, dataset)
    assert 'hx-trigger="every 2s"' in running
    assert "Running" in runs_row(running) and "400 / 985" in runs_row(running)

    PiiRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED, done=985)
    finished = fragment(client, dataset)
    assert "985 / 985" in runs_row(finished) and "Succeeded" in runs_row(finished)
    assert "Running" not in runs_row(finished)
    assert "hx-trigger" not in finished
