"""JSON Lines: lines read under the limits, parsed with orjson, bad lines described exactly."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import IO, Any

import orjson

from curation.importers.records import (
    BOM,
    READERS,
    FileLimit,
    Limits,
    Position,
    SourceRecord,
    bounded_lines,
    guard_compressed,
    normalize_value,
    over_file_limit,
    over_line_limit,
    type_name,
)


def jsonl_values(
    stream: IO[bytes], limits: Limits, position: Position
) -> Iterator[tuple[int, int, Any]]:
    """(line, size, parsed object or a SourceRecord saying why the line is bad) per line."""
    for item in _jsonl_lines(stream, limits, position):
        if isinstance(item, SourceRecord):
            yield item.line, 0, item
        else:
            line_number, start_offset, raw = item
            yield line_number, len(raw), parse_line(line_number, start_offset, raw)


RawLine = tuple[int, int, bytes]  # (line number, byte offset in the file, the line's bytes)


def _jsonl_lines(
    stream: IO[bytes], limits: Limits, position: Position
) -> Iterator[RawLine | SourceRecord]:
    """The non-blank lines of a JSON Lines file, unparsed, or a record saying why one is
    refused (over the line limit, or the file limit reached)."""
    lines = bounded_lines(stream, limits, position)
    try:
        for line_number, raw in lines:
            if raw is None:
                yield SourceRecord(line=line_number, reason=over_line_limit(limits))
                continue
            start_offset = position.bytes - len(raw)
            if line_number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
                start_offset += len(BOM)
            if not raw.strip():
                continue
            yield line_number, start_offset, raw
    except FileLimit:
        yield over_file_limit(position.line, limits)


def iter_raw_lines(
    stream: IO[bytes], *, limits: Limits, skip: int = 0
) -> Iterator[RawLine | SourceRecord]:
    """JSON Lines as `iter_records` would read them, one item per record, left unparsed so
    other processes can parse them (`record_from_line`)."""
    position = Position()
    for index, item in enumerate(
        guard_compressed(_jsonl_lines(stream, limits, position), position)
    ):
        if index >= skip:
            yield item


def parse_line(line_number: int, start_offset: int, raw: bytes) -> Any:
    """One JSON Lines line as an object, or a SourceRecord saying what is wrong with it."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # The slow path only runs for bad lines, to say exactly what is wrong.
        return _describe_bad_line(raw, line_number, start_offset)
    if not isinstance(value, dict):
        return SourceRecord(line=line_number, reason=f"not a JSON object but {type_name(value)}")
    return value


def record_from_line(fmt: str, item: RawLine | SourceRecord) -> SourceRecord:
    """The record of one raw JSON Lines item, normalized for `fmt`."""
    if isinstance(item, SourceRecord):
        return item
    line_number, start_offset, raw = item
    value = parse_line(line_number, start_offset, raw)
    if isinstance(value, SourceRecord):
        value.size = len(raw)
        return value
    return normalize_value(READERS[fmt], line_number, len(raw), value)


def _describe_bad_line(raw: bytes, line_number: int, start_offset: int) -> SourceRecord:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return SourceRecord(
            line=line_number,
            reason=f"invalid UTF-8 at byte offset {start_offset + error.start} (byte {error.start + 1} of the line)",
        )
    if len(text) <= _REMEMBERED_LINE:
        return SourceRecord(line=line_number, reason=_json_problem_remembered(text))
    return SourceRecord(line=line_number, reason=_json_problem(text))


# A file of millions of bad lines is usually one bad line repeated: short ones are described
# once each (the description depends on the text alone).
_REMEMBERED_LINE = 1024


def _json_problem(text: str) -> str:
    try:
        json.loads(text)
    except RecursionError:
        return "not valid JSON: nested too deeply"
    except json.JSONDecodeError as error:
        return f"not valid JSON: {error.msg} (column {error.colno})"
    # Valid for Python's parser but not for orjson's: its nesting limit is 1024 levels.
    return "not valid JSON: nested too deeply"


_json_problem_remembered = functools.lru_cache(maxsize=256)(_json_problem)
