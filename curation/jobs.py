"""RQ entry points. Each takes ids, loads fresh rows and calls a service; no logic lives here.

Queued jobs are stored in Redis by these functions' dotted paths (`curation.jobs.run_pii`,
…): the names stay as they are."""

from __future__ import annotations

from curation.services.imports import run_import_job
from curation.services.ingest import follow_up_ingests as ingest_follow_up
from curation.services.pii.runs import detect_chunk, plan_detection
from curation.services.quality import run_quality_job
from curation.services.versions.build import run_build_job


def run_import(batch_id: int) -> None:
    run_import_job(batch_id=batch_id)


def run_pii(run_id: int) -> None:
    plan_detection(run_id=run_id)


def detect_pii_chunk(run_id: int, first_id: int, last_id: int) -> None:
    detect_chunk(run_id=run_id, first_id=first_id, last_id=last_id)


def build_snapshot(version_id: int) -> None:
    run_build_job(version_id=version_id)


def run_quality(run_id: int) -> None:
    run_quality_job(run_id=run_id)


def follow_up_ingests(dataset_id: int) -> None:
    ingest_follow_up(dataset_id=dataset_id)
