"""Counts an import keeps per batch: record keys with no mapping (kept as metadata) and, past
the stored rejected lines, the reasons of the rest. Both are capped in size: a hostile file
cannot grow a batch's row without bound."""

from __future__ import annotations

import re
from collections.abc import Iterable

from curation.importers import SourceRecord

# Distinct unmapped keys tracked per batch; the rest are counted together.
MAX_UNMAPPED_KEYS = 100
OTHER_KEYS = "(other keys)"


def count_unmapped(records: Iterable[SourceRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        for key in record.normalized.metadata:  # type: ignore[union-attr]  # only valid records are counted
            name = str(key)[:100]
            counts[name] = counts.get(name, 0) + 1
    return counts


OTHER_REASONS = "(other reasons)"
_NUMBERS = re.compile(r"\d+")


def count_reasons(records: Iterable[SourceRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        reason = _NUMBERS.sub(
            "N", f"{record.field}: {record.reason}" if record.field else record.reason
        )[:300]
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def merge_counts(
    known: dict[str, int], new: dict[str, int], *, other: str = OTHER_KEYS
) -> dict[str, int]:
    merged = dict(known)
    for key, count in new.items():
        if key not in merged and len(merged) >= MAX_UNMAPPED_KEYS:
            key = other
        merged[key] = merged.get(key, 0) + count
    return merged
