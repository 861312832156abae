"""The message a page shows after it queued background work: what happened to the row, not
what was hoped for. With Redis down a row is already failed when the page answers."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.http import HttpRequest

from curation.models.jobs import Job, JobStatus


def flash_queued(request: HttpRequest, jobs: Job | Iterable[Job], queued: str) -> None:
    """`queued` when every row is on its way; the reason of the first that failed otherwise."""
    rows = [jobs] if isinstance(jobs, Job) else list(jobs)
    for row in rows:
        row.refresh_from_db(fields=["status", "error"])
    failed = [row for row in rows if row.status == JobStatus.FAILED]
    if failed:
        messages.error(request, f"Not started: {failed[0].error}")
    else:
        messages.success(request, queued)
