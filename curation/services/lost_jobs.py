"""Marking jobs whose worker vanished, for every kind of durable job row at once.

Pages never write: they show a row as lost from its heartbeat age (`Job.is_lost`). This
makes it durable, so lists, filters and counts that read the status column agree; the
periodic RQ job (`curation.periodic`) and `manage.py mark_lost_jobs` call it.
"""

from __future__ import annotations

from django.apps import apps

from curation.models.jobs import Job
from curation.services.pii.runs import reconcile_runs


def job_models() -> list[type[Job]]:
    """Every concrete job model of the installed apps (training's included, found by class)."""
    return [
        model
        for model in apps.get_models()
        if issubclass(model, Job) and not model._meta.abstract and not model._meta.proxy
    ]


def lost_jobs_mark() -> dict[str, int]:
    """Fail running rows whose heartbeat stopped; how many of each model were marked."""
    marked: dict[str, int] = {}
    for model in job_models():
        count = model.objects.mark_lost()
        if count:
            marked[model._meta.label] = count
    # A PII run whose last chunk ended without settling it (its worker died between the
    # chunk's commit and the run's update) is settled here too.
    settled = reconcile_runs()
    if settled:
        marked["curation.PiiRun (settled)"] = settled
    return marked
