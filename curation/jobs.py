"""RQ entry points. Each takes ids, loads fresh rows and calls a service; no logic lives here."""

from __future__ import annotations

from curation.services.imports import run_import_job


def run_import(batch_id: int) -> None:
    run_import_job(batch_id=batch_id)
