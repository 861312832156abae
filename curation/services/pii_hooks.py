"""Where the import workflow hands over to PII detection."""

from __future__ import annotations

from curation.models import ImportBatch


def start_detection_after_import(*, batch: ImportBatch) -> None:
    from curation.services.pii import start_detection

    if batch.imported:
        start_detection(dataset=batch.dataset)
