"""Reads for the import pages and the import command."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from curation.flags import NO_SYSTEM_MESSAGE, NO_USER_MESSAGE, OVER_TOKEN_LIMIT
from curation.models import FLAG_LABELS, ImportBatch

# The warnings an import counts (curation.validation's `warnings` and the token limit), in the
# order they are shown, each with what it means for the data.
IMPORT_WARNINGS = (
    (
        NO_SYSTEM_MESSAGE,
        "normal for Alpaca and ShareGPT files without a system turn; versions add the "
        "dataset's default system prompt",
    ),
    (NO_USER_MESSAGE, "the conversation has no user turn to learn from"),
    (OVER_TOKEN_LIMIT, "longer than the target model takes; cut or reject them in review"),
)


@dataclass(frozen=True)
class ImportWarning:
    flag: str
    label: str
    count: int
    note: str


def import_warnings(batch: ImportBatch) -> list[ImportWarning]:
    """Which warnings the batch's "with warnings" count is made of, with their counts."""
    if not batch.warnings:
        return []
    counts = batch.conversations.aggregate(
        **{flag: Count("id", filter=Q(flags__contains=[flag])) for flag, _ in IMPORT_WARNINGS}
    )
    return [
        ImportWarning(flag, FLAG_LABELS[flag], counts[flag], note)
        for flag, note in IMPORT_WARNINGS
        if counts[flag]
    ]
