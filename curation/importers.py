"""Stream records out of an uploaded file, whatever its format, without loading it whole.

`iter_records` yields one `SourceRecord` per conversation in the file: the line it starts
on, the normalized conversation, or the reason it could not be read. Memory is bounded by
`Limits`, never by the input: a line (a CSV row, a JSON array item) over the line limit is
skipped without being held, and reading stops with a final record once the decompressed
file passes the file limit. A truncated or corrupt compressed file ends the same way, after
the last line that could be read. Only a file that cannot be read at all (binary, empty, an
unknown format, a kind of data not imported yet) raises `ImportFileError`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from curation.preferences import PREFERENCE_FORMAT, normalize_preference, preference_kind
from curation.validation import (
    NORMALIZERS,
    Normalized,
    RecordError,
    csv_layout,
    normalize_csv_row,
    unsupported_kind,
)

# Every format's record reader: the chat formats' and the preference shapes'.
READERS = {**NORMALIZERS, PREFERENCE_FORMAT: normalize_preference}
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
CHUNK = 1024 * 1024
SNIFF_BYTES = 8192
# How far detection reads to find one record it knows (a first line may be long).
DETECT_LINES = 200
COMPRESSION_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_LONE_SURROGATE = re.compile("[\udc80-\udcff]")


class ImportFileError(Exception):
    """The file as a whole cannot be imported; nothing in it was."""


@dataclass(frozen=True)
class Limits:
    """Decompressed bytes a line (row, array item) and a whole file may have."""

    line_bytes: int
    file_bytes: int


@dataclass
class SourceRecord:
    line: int
    normalized: Normalized | None = None
    reason: str = ""
    field: str = ""
    size: int = 0
    # Nothing after this record could be read (truncated or corrupt file, file limit).
    final: bool = False


class _Position:
    """Physical lines and decompressed bytes read so far, shared by a reader and its guard."""

    def __init__(self) -> None:
        self.line = 0
        self.bytes = 0


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

    def close(self) -> None:
        self.raw.close()
        super().close()


# What a file is read from: a local path, or a callable that opens a fresh binary stream
# (curation.storage.open_stream for files in storage), since detection reads the start twice.
Source = Path | str | Callable[[], IO[bytes]]


def open_binary(path: Source) -> tuple[IO[bytes], CountingReader]:
    raw = path() if callable(path) else open(path, "rb")  # noqa: SIM115 - closed by the caller
    counter = CountingReader(raw)
    buffered = io.BufferedReader(counter, CHUNK)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb"), counter  # type: ignore[return-value]
    return buffered, counter


# -- detection ----------------------------------------------------------------------------


def _classify_object(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    if preference_kind(record):
        return PREFERENCE_FORMAT
    if "messages" in record:
        return "openai"
    if "conversations" in record or "conversation" in record:
        return "sharegpt"
    if "instruction" in record and "output" in record:
        return "alpaca"
    if "prompt" in record and "completion" in record:
        return "prompt_completion"
    return None


def _not_supported(kind: str) -> ImportFileError:
    return ImportFileError(
        f"this is {kind}. Curator does not import this kind of data yet; "
        "import supervised chat data (OpenAI messages, ShareGPT, Alpaca, CSV) instead"
    )


def _looks_binary(sample: bytes) -> str | None:
    nul = sample.find(b"\x00")
    if nul >= 0:
        return f"a NUL byte at offset {nul}"
    text = sample.decode("utf-8", errors="replace")
    odd = sum(
        1 for char in text if char == "\ufffd" or (char < " " and char not in "\t\n\r\f\v\x1b")
    )
    if text and odd / len(text) > 0.05:
        return f"{odd} of the first {len(text)} characters are not text"
    return None


def _read_sample(path: Source) -> bytes:
    stream, _ = open_binary(path)
    with stream:
        try:
            return stream.read(SNIFF_BYTES)
        except COMPRESSION_ERRORS as error:
            raise ImportFileError(
                f"not a readable gzip file ({error}); nothing could be read"
            ) from None


def detect_format(path: Source, *, original_name: str = "", limits: Limits) -> str:
    """The file's format, from its content; ImportFileError when it cannot be imported."""
    sample = _read_sample(path)
    if sample.startswith(BOM):
        sample = sample[len(BOM) :]
    if not sample.strip() and len(sample) < SNIFF_BYTES:
        raise ImportFileError("the file is empty")
    binary = _looks_binary(sample)
    if binary:
        raise ImportFileError(f"not a text file ({binary}); expected JSON Lines, JSON or CSV")
    text = sample.lstrip()
    name = (original_name or str(path)).lower().removesuffix(".gz")
    if text[:1] in (b"[", b"{"):
        stream, _ = open_binary(path)
        with stream:
            values = (
                _array_values(stream, limits, _Position())
                if text[:1] == b"["
                else _jsonl_values(stream, limits, _Position())
            )
            try:
                for number, (_, _, value) in enumerate(values):
                    if number >= DETECT_LINES:
                        break
                    if isinstance(value, SourceRecord):
                        continue
                    kind = unsupported_kind(value)
                    if kind:
                        raise _not_supported(kind)
                    found = _classify_object(value)
                    if found:
                        return found
            except COMPRESSION_ERRORS:
                pass
        where = "first item of the JSON array" if text[:1] == b"[" else "first lines"
        raise ImportFileError(
            f"the {where} hold no conversation this tool knows "
            "(expected messages, conversations, instruction/output or prompt/completion keys)"
        )
    if name.endswith(".csv") or b"," in text.split(b"\n", 1)[0]:
        return "csv"
    raise ImportFileError("unknown format: not JSON Lines, a JSON array or CSV")


def check_supported(path: Source, *, limits: Limits) -> str | None:
    """For an explicitly chosen format: refuse binary files and kinds not imported yet.

    Returns "preference" for preference data, which is read as such whatever chat format was
    chosen (ShareGPT or Alpaca with chosen/rejected): its pairs are never dropped."""
    try:
        found = detect_format(path, limits=limits)
    except ImportFileError as error:
        text = str(error)
        if text.startswith(("this is ", "not a text file", "not a readable gzip", "the file is")):
            raise
        return None
    return found if found == PREFERENCE_FORMAT else None


# -- reading ------------------------------------------------------------------------------


def iter_records(
    stream: IO[bytes], fmt: str, *, limits: Limits, skip: int = 0
) -> Iterator[SourceRecord]:
    """Records of the file in order; the first `skip` are read but not yielded (resume)."""
    head = stream.peek(16) if hasattr(stream, "peek") else b""
    head = head[len(BOM) :] if head.startswith(BOM) else head
    position = _Position()
    if fmt == "csv":
        records = _csv_records(stream, limits, position)
    else:
        normalize = READERS[fmt]
        values = (
            _array_values(stream, limits, position)
            if head.lstrip()[:1] == b"["
            else _jsonl_values(stream, limits, position)
        )
        records = (
            value if isinstance(value, SourceRecord) else _normalize(normalize, line, size, value)
            for line, size, value in values
        )
    for index, record in enumerate(_guard_compressed(records, position)):
        if index >= skip:
            yield record


_Item = TypeVar("_Item")


def _guard_compressed(
    records: Iterator[_Item], position: _Position
) -> Iterator[_Item | SourceRecord]:
    """A compressed file that ends early or is corrupt ends the records after its last good line."""
    try:
        yield from records
    except EOFError:
        yield SourceRecord(
            line=position.line + 1,
            reason=f"the compressed file is truncated after line {position.line}; "
            "the lines before it were read",
            final=True,
        )
    except (zlib.error, gzip.BadGzipFile) as error:
        yield SourceRecord(
            line=position.line + 1,
            reason=f"the compressed file is corrupt after line {position.line} ({error}); "
            "the lines before it were read",
            final=True,
        )


def _normalize(normalize: Any, line: int, size: int, value: Any) -> SourceRecord:
    try:
        return SourceRecord(line=line, normalized=normalize(value), size=size)
    except RecordError as error:
        return SourceRecord(line=line, reason=error.reason, field=error.field, size=size)
    except RecursionError:
        return SourceRecord(line=line, reason="nested too deeply", size=size)


def _over_file_limit(line: int, limits: Limits) -> SourceRecord:
    return SourceRecord(
        line=line,
        reason=f"the file is over the size limit of {limits.file_bytes:,} bytes once decompressed "
        f"(CURATOR_IMPORT_MAX_FILE_BYTES); reading stopped at line {line}, "
        "the lines before it were read",
        final=True,
    )


def _over_line_limit(limits: Limits) -> str:
    return f"line is over the size limit of {limits.line_bytes:,} bytes (CURATOR_MAX_LINE_BYTES)"


def _bounded_lines(
    stream: IO[bytes], limits: Limits, position: _Position
) -> Iterator[tuple[int, bytes | None]]:
    """Physical lines as (line number, bytes), or (line number, None) for a line over the
    limit, which is read past in pieces and never held. Stops at the file limit."""
    while True:
        raw = stream.readline(limits.line_bytes + 2)
        if not raw:
            return
        position.line += 1
        position.bytes += len(raw)
        if position.bytes > limits.file_bytes:
            raise _FileLimit
        ended = raw.endswith(b"\n")
        if len(raw) - ended - raw.endswith(b"\r\n") > limits.line_bytes:
            while not ended:
                rest = stream.readline(CHUNK)
                position.bytes += len(rest)
                if position.bytes > limits.file_bytes:
                    raise _FileLimit
                ended = not rest or rest.endswith(b"\n")
            yield position.line, None
            continue
        yield position.line, raw


class _FileLimit(Exception):
    pass


def _jsonl_values(
    stream: IO[bytes], limits: Limits, position: _Position
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
    stream: IO[bytes], limits: Limits, position: _Position
) -> Iterator[RawLine | SourceRecord]:
    """The non-blank lines of a JSON Lines file, unparsed, or a record saying why one is
    refused (over the line limit, or the file limit reached)."""
    lines = _bounded_lines(stream, limits, position)
    try:
        for line_number, raw in lines:
            if raw is None:
                yield SourceRecord(line=line_number, reason=_over_line_limit(limits))
                continue
            start_offset = position.bytes - len(raw)
            if line_number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
                start_offset += len(BOM)
            if not raw.strip():
                continue
            yield line_number, start_offset, raw
    except _FileLimit:
        yield _over_file_limit(position.line, limits)


def iter_raw_lines(
    stream: IO[bytes], *, limits: Limits, skip: int = 0
) -> Iterator[RawLine | SourceRecord]:
    """JSON Lines as `iter_records` would read them, one item per record, left unparsed so
    other processes can parse them (`record_from_line`)."""
    position = _Position()
    for index, item in enumerate(
        _guard_compressed(_jsonl_lines(stream, limits, position), position)
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
        return SourceRecord(line=line_number, reason=f"not a JSON object but {_type_name(value)}")
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
    return _normalize(READERS[fmt], line_number, len(raw), value)


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
    except RecursionError:
        return SourceRecord(line=line_number, reason="not valid JSON: nested too deeply")
    except json.JSONDecodeError as error:
        return SourceRecord(
            line=line_number,
            reason=f"not valid JSON: {error.msg} (column {error.colno})",
        )
    # Valid for Python's parser but not for orjson's: its nesting limit is 1024 levels.
    return SourceRecord(line=line_number, reason="not valid JSON: nested too deeply")


_STRUCTURAL = re.compile(r'[\[\]{}"\\]')


class _Skipper:
    """Finds where a JSON value ends without parsing it, across buffer refills.

    Used for array items that are over the size limit or nested too deeply to parse, so
    that the items after them can still be read."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.started = False

    def feed(self, text: str, start: int) -> int | None:
        """Index just past the value's end in `text`, or None when it goes on."""
        index = start
        if not self.started:
            self.started = True
            if text[start] not in '[{"':
                # A number or literal: it ends at the next comma, bracket or space.
                match = re.compile(r"[,\]\s]").search(text, start)
                return match.start() if match else None
        while True:
            if self.escaped:
                if index >= len(text):
                    return None
                self.escaped = False
                index += 1
            match = _STRUCTURAL.search(text, index)
            if match is None:
                return None
            char, index = match.group(), match.end()
            if self.in_string:
                if char == "\\":
                    self.escaped = True
                elif char == '"':
                    self.in_string = False
                    if self.depth == 0:
                        return index
            elif char == '"':
                self.in_string = True
            elif char in "[{":
                self.depth += 1
            elif char in "]}":
                self.depth -= 1
                if self.depth == 0:
                    return index


def _array_values(
    stream: IO[bytes], limits: Limits, position: _Position
) -> Iterator[tuple[int, int, Any]]:
    """Items of one top-level JSON array, decoded incrementally; line numbers are where items start."""
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    index = 0
    consumed_bytes = 0
    eof = False

    def refill() -> bool:
        nonlocal buffer, index, consumed_bytes, eof
        chunk = stream.read(CHUNK)
        if not chunk:
            eof = True
            tail = utf8.decode(b"", final=True)
            buffer = buffer[index:] + tail
            index = 0
            return bool(tail)
        if consumed_bytes == 0 and chunk.startswith(BOM):
            chunk = chunk[len(BOM) :]
        consumed_bytes += len(chunk)
        position.bytes = consumed_bytes
        if consumed_bytes > limits.file_bytes:
            raise _FileLimit
        try:
            text = utf8.decode(chunk)
        except UnicodeDecodeError as error:
            raise _Stop(
                f"invalid UTF-8 at byte offset {consumed_bytes - len(chunk) + error.start}"
            ) from None
        buffer = buffer[index:] + text
        index = 0
        return True

    def skip_space() -> bool:
        nonlocal index
        while True:
            while index < len(buffer) and buffer[index] in " \t\r\n":
                if buffer[index] == "\n":
                    position.line += 1
                index += 1
            if index < len(buffer):
                return True
            if eof or not refill():
                return False

    def skip_value() -> None:
        """Move past the value at `index` without holding it."""
        nonlocal index, buffer
        skipper = _Skipper()
        while True:
            end = skipper.feed(buffer, index)
            if end is not None:
                position.line += buffer.count("\n", index, end)
                index = end
                return
            position.line += buffer.count("\n", index)
            buffer, index = "", 0
            if eof or not refill():
                raise _Stop(f"the JSON array ends inside the item at line {position.line + 1}")

    position.line = 1
    try:
        if not skip_space():
            raise ImportFileError("the file is empty")
        if buffer[index] != "[":
            raise ImportFileError(f"expected a JSON array at line {position.line}")
        index += 1
        while True:
            if not skip_space():
                raise _Stop(f"the JSON array is not closed (line {position.line})")
            char = buffer[index]
            if char == "]":
                return
            if char == ",":
                index += 1
                continue
            item_line = position.line
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, index)
                    break
                except RecursionError:
                    skip_value()
                    yield item_line, 0, SourceRecord(line=item_line, reason="nested too deeply")
                    value = end = None
                    break
                except json.JSONDecodeError as error:
                    if len(buffer) - index > limits.line_bytes:
                        skip_value()
                        yield (
                            item_line,
                            0,
                            SourceRecord(line=item_line, reason=_over_line_limit(limits)),
                        )
                        value = end = None
                        break
                    if not eof and refill():
                        continue
                    raise _Stop(
                        f"not valid JSON at line {item_line + buffer.count(chr(10), index, error.pos)}: "
                        f"{error.msg}; a JSON array cannot be read past a syntax error"
                    ) from None
            if end is None:
                continue
            if end - index > limits.line_bytes:
                # Decoded in one refill, but still over the limit: refuse it like a long line.
                position.line += buffer.count("\n", index, end)
                index = end
                yield item_line, 0, SourceRecord(line=item_line, reason=_over_line_limit(limits))
                continue
            size = end - index
            position.line += buffer.count("\n", index, end)
            index = end
            if not isinstance(value, dict):
                yield (
                    item_line,
                    size,
                    SourceRecord(
                        line=item_line, reason=f"not a JSON object but {_type_name(value)}"
                    ),
                )
                continue
            yield item_line, size, value
    except _FileLimit:
        yield position.line, 0, _over_file_limit(position.line, limits)
    except _Stop as stop:
        yield position.line, 0, SourceRecord(line=position.line, reason=str(stop), final=True)


class _Stop(Exception):
    """The rest of the file cannot be read; what was read before stays."""


def _csv_records(stream: IO[bytes], limits: Limits, position: _Position) -> Iterator[SourceRecord]:
    """CSV rows as records. Lines are read and decoded one by one under the line limit, so a
    bad byte or an over-long line is reported for its own row."""
    over: list[int] = []  # physical lines over the limit, reported with the row they fall in
    stopped: list[bool] = []

    def text_lines() -> Iterator[str]:
        try:
            for line_number, raw in _bounded_lines(stream, limits, position):
                if raw is None:
                    over.append(line_number)
                    yield "\n"
                    continue
                if line_number == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                # Bad bytes become lone surrogates here and are reported with their row.
                yield raw.decode("utf-8", errors="surrogateescape")
        except _FileLimit:
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
                    yield _over_file_limit(position.line, limits)
                    return
                raise ImportFileError("the file is empty") from None
            except csv.Error as error:
                raise ImportFileError(f"the CSV header cannot be read: {error}") from None
            if over:
                raise ImportFileError(f"the CSV header: {_over_line_limit(limits)}")
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
                yield SourceRecord(line=over[0], reason=_over_line_limit(limits))
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
            yield _over_file_limit(position.line, limits)
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
