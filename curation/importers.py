"""Stream records out of an uploaded file, whatever its format, without loading it whole.

`read_records` yields one `SourceRecord` per conversation in the file: the line it starts
on, the normalized conversation, or the reason it could not be read. A file-level problem
(unreadable, unknown format, a CSV without the needed columns) raises `ImportFileError`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from curation.validation import (
    NORMALIZERS,
    Normalized,
    RecordError,
    csv_layout,
    normalize_csv_row,
)

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
CHUNK = 1024 * 1024


class ImportFileError(Exception):
    """The file as a whole cannot be imported; nothing in it was."""


@dataclass
class SourceRecord:
    line: int
    normalized: Normalized | None = None
    reason: str = ""
    field: str = ""


class CountingReader(io.RawIOBase):
    """Counts bytes read from the file on disk, for progress on compressed files too."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.position += count or 0
        return count or 0


def open_binary(path: Path | str | IO[bytes]) -> tuple[IO[bytes], CountingReader]:
    # A stream (from curation.storage.open_stream) is read as it is; a path is opened.
    raw = path if hasattr(path, "read") else open(path, "rb")  # type: ignore[arg-type]  # noqa: SIM115
    counter = CountingReader(raw)
    buffered = io.BufferedReader(counter, CHUNK)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb"), counter  # type: ignore[return-value]
    return buffered, counter


def _peek_text(stream: IO[bytes], size: int = 64 * 1024) -> bytes:
    head = stream.peek(size) if hasattr(stream, "peek") else b""  # type: ignore[attr-defined]
    return head[len(BOM) :] if head.startswith(BOM) else head


def _classify_object(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    if "messages" in record:
        return "openai"
    if "conversations" in record or "conversation" in record:
        return "sharegpt"
    if "instruction" in record and "output" in record:
        return "alpaca"
    if "prompt" in record and "completion" in record:
        return "prompt_completion"
    return None


def detect_format(path: Path | str | IO[bytes], *, original_name: str = "") -> str:
    stream, _ = open_binary(path)
    with stream:
        head = _peek_text(stream)
        if not head and hasattr(stream, "read"):
            head = stream.read(64 * 1024)
    text = head.lstrip()
    name = (original_name or str(path)).lower().removesuffix(".gz")
    if not text:
        raise ImportFileError("the file is empty")
    if text[:1] == b"[":
        decoded = text.decode("utf-8", errors="replace")
        first = _first_array_item(decoded)
        found = _classify_object(first)
        if found:
            return found
        raise ImportFileError(
            "a JSON array whose first item is not a conversation this tool knows "
            "(expected messages, conversations, instruction/output or prompt/completion keys)"
        )
    if text[:1] == b"{":
        for raw_line in text.splitlines():
            if not raw_line.strip():
                continue
            try:
                found = _classify_object(json.loads(raw_line))
            except ValueError:
                continue
            if found:
                return found
        raise ImportFileError(
            "no line in the first 64 KB is a conversation this tool knows "
            "(expected messages, conversations, instruction/output or prompt/completion keys)"
        )
    if name.endswith(".csv") or b"," in text.split(b"\n", 1)[0]:
        return "csv"
    raise ImportFileError("unknown format: not JSON Lines, a JSON array or CSV")


def _first_array_item(text: str) -> Any:
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    try:
        item, _ = decoder.raw_decode(text, position)
    except ValueError:
        return None
    return item


def read_records(
    path: Path | str, fmt: str, *, max_line_bytes: int, skip: int = 0
) -> Iterator[SourceRecord]:
    """Records of the file in order; the first `skip` are read but not yielded (resume)."""
    stream, _ = open_binary(path)
    with stream:
        yield from iter_records(stream, fmt, max_line_bytes=max_line_bytes, skip=skip)


def iter_records(
    stream: IO[bytes], fmt: str, *, max_line_bytes: int, skip: int
) -> Iterator[SourceRecord]:
    head = _peek_text(stream, 16).lstrip() if hasattr(stream, "peek") else b""
    if fmt == "csv":
        iterator = _csv_records(stream)
    elif head[:1] == b"[":
        iterator = _array_records(stream, fmt, max_item_bytes=max_line_bytes)
    else:
        iterator = _jsonl_records(stream, fmt, max_line_bytes=max_line_bytes)
    for index, record in enumerate(iterator):
        if index >= skip:
            yield record


def _normalize(fmt: str, line: int, value: Any) -> SourceRecord:
    try:
        return SourceRecord(line=line, normalized=NORMALIZERS[fmt](value))
    except RecordError as error:
        return SourceRecord(line=line, reason=error.reason, field=error.field)


def _jsonl_records(stream: IO[bytes], fmt: str, *, max_line_bytes: int) -> Iterator[SourceRecord]:
    line_number = 0
    byte_offset = 0
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        line_number += 1
        start_offset = byte_offset
        byte_offset += len(raw)
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            # Drain the rest of the oversized line so the next record starts cleanly.
            while True:
                rest = stream.readline(CHUNK)
                byte_offset += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield SourceRecord(
                line=line_number, reason=f"line is over the size limit of {max_line_bytes} bytes"
            )
            continue
        if line_number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
            start_offset += len(BOM)
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # The slow path only runs for bad lines, to say exactly what is wrong.
            yield _describe_bad_line(raw, line_number, start_offset)
            continue
        if not isinstance(value, dict):
            yield SourceRecord(
                line=line_number, reason=f"not a JSON object but {_type_name(value)}"
            )
            continue
        yield _normalize(fmt, line_number, value)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _describe_bad_line(raw: bytes, line_number: int, start_offset: int) -> SourceRecord:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return SourceRecord(
            line=line_number,
            reason=f"invalid UTF-8 at byte offset {start_offset + error.start} (byte {error.start + 1} of the line)",
        )
    try:
        json.loads(text)
    except ValueError as error:
        return SourceRecord(
            line=line_number,
            reason=f"not valid JSON: {error.msg} (column {getattr(error, 'colno', '?')})",
        )
    return SourceRecord(line=line_number, reason="not valid JSON")


def _array_records(stream: IO[bytes], fmt: str, *, max_item_bytes: int) -> Iterator[SourceRecord]:
    """Items of one top-level JSON array, decoded incrementally; line numbers are where items start."""
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    position = 0
    line = 1
    consumed_bytes = 0
    started = False
    finished = False
    eof = False

    def refill() -> bool:
        nonlocal buffer, position, consumed_bytes, eof
        chunk = stream.read(CHUNK)
        if not chunk:
            eof = True
            tail = utf8.decode(b"", final=True)
            buffer = buffer[position:] + tail
            position = 0
            return bool(tail)
        if consumed_bytes == 0 and chunk.startswith(BOM):
            chunk = chunk[len(BOM) :]
        try:
            text = utf8.decode(chunk)
        except UnicodeDecodeError as error:
            raise ImportFileError(
                f"invalid UTF-8 at byte offset {consumed_bytes + error.start}"
            ) from None
        consumed_bytes += len(chunk)
        buffer = buffer[position:] + text
        position = 0
        return True

    def skip_space() -> None:
        nonlocal position, line
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n":
                if buffer[position] == "\n":
                    line += 1
                position += 1
            if position < len(buffer) or eof or not refill():
                return

    while not finished:
        skip_space()
        if position >= len(buffer):
            if not started:
                raise ImportFileError("the file is empty")
            raise ImportFileError(f"the JSON array is not closed (line {line})")
        char = buffer[position]
        if not started:
            if char != "[":
                raise ImportFileError(f"expected a JSON array at line {line}")
            started = True
            position += 1
            continue
        if char == "]":
            finished = True
            continue
        if char == ",":
            position += 1
            continue
        item_line = line
        while True:
            try:
                value, end = decoder.raw_decode(buffer, position)
                break
            except ValueError as error:
                if not eof and len(buffer) - position <= max_item_bytes:
                    refill()
                    continue
                if len(buffer) - position > max_item_bytes:
                    raise ImportFileError(
                        f"item at line {item_line} is over the size limit of {max_item_bytes} bytes"
                    ) from None
                raise ImportFileError(
                    f"not valid JSON at line {item_line + buffer.count(chr(10), position, error.pos)}: {error.msg}; "
                    "a JSON array cannot be read past a syntax error"
                ) from None
        line += buffer.count("\n", position, end)
        position = end
        if not isinstance(value, dict):
            yield SourceRecord(
                line=item_line,
                reason=f"not a JSON object but {type(value).__name__ if value is not None else 'null'}",
            )
            continue
        yield _normalize(fmt, item_line, value)


def _csv_records(stream: IO[bytes]) -> Iterator[SourceRecord]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", errors="strict")  # type: ignore[arg-type]
    reader = csv.DictReader(text)
    try:
        header = reader.fieldnames or []
    except UnicodeDecodeError as error:
        raise ImportFileError(f"invalid UTF-8 in the CSV header (byte {error.start})") from None
    try:
        layout = csv_layout(list(header))
    except RecordError as error:
        raise ImportFileError(error.reason) from None
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise ImportFileError(
                f"invalid UTF-8 near line {line} (byte {error.start} of a read block)"
            ) from None
        except csv.Error as error:
            yield SourceRecord(line=line, reason=f"CSV error: {error}")
            continue
        try:
            yield SourceRecord(line=line, normalized=normalize_csv_row(row, layout))
        except RecordError as error:
            yield SourceRecord(line=line, reason=error.reason, field=error.field)
