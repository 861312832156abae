"""Reading a file of any format as records, in order, with resume."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from curation.importers.csv_rows import csv_records
from curation.importers.json_array import array_values
from curation.importers.jsonl import jsonl_values
from curation.importers.records import (
    BOM,
    READERS,
    Limits,
    Position,
    SourceRecord,
    guard_compressed,
    normalize_value,
)


def is_json_array(stream: IO[bytes], fmt: str) -> bool:
    """Whether the file is one top-level JSON array, whose records are numbered by item."""
    if fmt == "csv":
        return False
    head = stream.peek(16) if hasattr(stream, "peek") else b""
    head = head[len(BOM) :] if head.startswith(BOM) else head
    return head.lstrip()[:1] == b"["


def iter_records(
    stream: IO[bytes], fmt: str, *, limits: Limits, skip: int = 0
) -> Iterator[SourceRecord]:
    """Records of the file in order; the first `skip` are read but not yielded (resume)."""
    array = is_json_array(stream, fmt)
    position = Position()
    if fmt == "csv":
        records = csv_records(stream, limits, position)
    else:
        normalize = READERS[fmt]
        values = (
            array_values(stream, limits, position)
            if array
            else jsonl_values(stream, limits, position)
        )
        records = (
            value
            if isinstance(value, SourceRecord)
            else normalize_value(normalize, line, size, value)
            for line, size, value in values
        )
    last = 0
    for index, record in enumerate(guard_compressed(records, position)):
        if array and record.final:
            # A damaged .json.gz: the record after the last item, not a physical line number
            # that could be an item's.
            record.line = last + 1
        last = record.line
        if index >= skip:
            yield record
