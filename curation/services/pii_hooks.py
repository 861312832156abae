"""Where the import workflow hands over to PII detection."""

from __future__ import annotations

from curation.models import ImportBatch


def start_detection_after_import(*, batch: ImportBatch) -> None:
    # Detection is wired in by the PII workflow; until a dataset has a detection run the
    # conversations wait in `pending_pii`.
    return None
