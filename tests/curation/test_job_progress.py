"""The job progress fragment says when a job started in words a person reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from curation.models.jobs import JobStatus
from tests.factories import ImportBatchFactory

pytestmark = pytest.mark.django_db


def test_a_job_started_seconds_ago_reads_just_now_not_zero_minutes() -> None:
    batch = ImportBatchFactory(status=JobStatus.RUNNING, started_at=timezone.now())
    html = render_to_string("partials/job_progress.html", {"job": batch})
    assert "started just now" in html
    assert "0 minutes" not in html


def test_a_job_started_minutes_ago_says_how_long() -> None:
    started = timezone.now() - timedelta(minutes=5, seconds=10)
    batch = ImportBatchFactory(status=JobStatus.RUNNING, started_at=started)
    html = render_to_string("partials/job_progress.html", {"job": batch})
    assert "started 5\xa0minutes ago" in html
