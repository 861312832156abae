"""CSV: rows decoded line by line under the line limit, so a bad byte or an over-long line
is reported for its own row."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import IO

from curation.importers.records import (
    BOM,
    FileLimit,
    ImportFileError,
    Limits,
    Position,
    SourceRecord,
    bounded_lines,
    over_file_limit,
    over_line_limit,
)
from curation.validation import RecordError, csv_layout, normalize_csv_row

_LONE_SURROGATE = re.compile("[\udc80-\udcff]")


def csv_records(stream: IO[bytes], limits: Limits, position: Position) -> Iterator[SourceRecord]:
    """CSV rows as records. Lines are read and decoded one by one under the line limit, so a
    bad byte or an over-long line is reported for its own row."""
    over: list[int] = []  # physical lines over the limit, reported with the row they fall in
    stopped: list[bool] = []

    def text_lines() -> Iterator[str]:
        try:
            for line_number, raw in bounded_lines(stream, limits, position):
                if raw is None:
                    over.append(line_number)
                    yield "\n"
                    continue
                if line_number == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                # Bad bytes become lone surrogates here and are reported with their row.
                yield raw.decode("utf-8", errors="surrogateescape")
        except FileLimit:
            stopped.append(True)

    previous_limit = csv.field_size_limit()
    csv.field_size_limit(max(limits.line_bytes, 1024))
    try:
        reader = csv.reader(text_lines())
        header: list[str] = []
        while not header:
            try:
                header = next(reader)
            except StopIteration:
                if stopped:
                    yield over_file_limit(position.line, limits)
                    return
                raise ImportFileError("the file is empty") from None
            except csv.Error as error:
                raise ImportFileError(f"the CSV header cannot be read: {error}") from None
            if over:
                raise ImportFileError(f"the CSV header: {over_line_limit(limits)}")
        if any(_LONE_SURROGATE.search(name) for name in header):
            raise ImportFileError("invalid UTF-8 in the CSV header (line 1)")
        try:
            layout = csv_layout(header)
        except RecordError as error:
            raise ImportFileError(error.reason) from None
        names = [name.strip().lower() for name in header]
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                yield SourceRecord(line=line, reason=f"CSV error: {error}")
                continue
            if over:
                yield SourceRecord(line=over[0], reason=over_line_limit(limits))
                over.clear()
                continue
            if not row or (row == [""] and len(names) > 1):
                continue
            size = sum(len(cell) for cell in row)
            for cell_number, cell in enumerate(row):
                bad = _LONE_SURROGATE.search(cell)
                if bad:
                    column = names[cell_number] if cell_number < len(names) else ""
                    yield SourceRecord(
                        line=line,
                        field=column,
                        reason=f"invalid UTF-8 in this row ({column or f'cell {cell_number + 1}'}, "
                        f"character {bad.start() + 1})",
                        size=size,
                    )
                    break
            else:
                yield _csv_row(line, size, names, row, layout)
        if stopped:
            yield over_file_limit(position.line, limits)
    finally:
        csv.field_size_limit(previous_limit)


def _csv_row(
    line: int, size: int, names: list[str], row: list[str], layout: tuple[str, ...]
) -> SourceRecord:
    if len(row) > len(names):
        return SourceRecord(
            line=line, reason="the row has more cells than the header has columns", size=size
        )
    values: dict[str, str | None] = dict(zip(names, row, strict=False))
    for name in names[len(row) :]:
        values[name] = None
    try:
        return SourceRecord(line=line, normalized=normalize_csv_row(values, layout), size=size)
    except RecordError as error:
        return SourceRecord(line=line, reason=error.reason, field=error.field, size=size)
