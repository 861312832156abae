"""Helpers shared by the import tests."""

from __future__ import annotations

from pathlib import Path

from django.core.files import File

from curation.models import Dataset, ImportBatch
from curation.services.imports import create_import_batch, run_import_job


def import_file(dataset: Dataset, path: Path, fmt: str = "auto") -> ImportBatch:
    """Import a file in this process, as the worker would, and return the finished batch."""
    with path.open("rb") as handle:
        batch = create_import_batch(
            dataset=dataset,
            uploaded=File(handle, name=path.name),
            original_name=path.name,
            fmt=fmt,
            user=None,
            enqueue=False,
        )
    run_import_job(batch_id=batch.pk)
    return ImportBatch.objects.get(pk=batch.pk)


def errors_by_line(batch: ImportBatch) -> dict[int, tuple[str, str]]:
    return {error.line: (error.field, error.reason) for error in batch.line_errors.all()}
