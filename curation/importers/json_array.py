"""A top-level JSON array, decoded item by item; items too long or too deep are skipped
without being held."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from curation.importers.records import (
    BOM,
    CHUNK,
    FileLimit,
    ImportFileError,
    Limits,
    Position,
    SourceRecord,
    Stop,
    over_file_limit,
    over_line_limit,
    type_name,
)

_STRUCTURAL = re.compile(r'[\[\]{}"\\]')


def _item_over_limit(limits: Limits) -> str:
    return over_line_limit(limits).replace("line is", "item is", 1)


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


def array_values(
    stream: IO[bytes], limits: Limits, position: Position
) -> Iterator[tuple[int, int, Any]]:
    """Items of one top-level JSON array, decoded incrementally, numbered by their position in
    the array (1 = the first item): a one-line array would give every item line 1."""
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
            raise FileLimit
        try:
            text = utf8.decode(chunk)
        except UnicodeDecodeError as error:
            raise Stop(
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
                raise Stop(f"the JSON array ends inside the item at line {position.line + 1}")

    position.line = 1
    item = 0
    try:
        if not skip_space():
            raise ImportFileError("the file is empty")
        if buffer[index] != "[":
            raise ImportFileError(f"expected a JSON array at line {position.line}")
        index += 1
        while True:
            if not skip_space():
                raise Stop(f"the JSON array is not closed (line {position.line})")
            char = buffer[index]
            if char == "]":
                return
            if char == ",":
                index += 1
                continue
            item_line = position.line
            item += 1
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, index)
                    break
                except RecursionError:
                    skip_value()
                    yield item, 0, SourceRecord(line=item, reason="nested too deeply")
                    value = end = None
                    break
                except json.JSONDecodeError as error:
                    if len(buffer) - index > limits.line_bytes:
                        skip_value()
                        yield (
                            item,
                            0,
                            SourceRecord(line=item, reason=_item_over_limit(limits)),
                        )
                        value = end = None
                        break
                    if not eof and refill():
                        continue
                    raise Stop(
                        f"not valid JSON at line {item_line + buffer.count(chr(10), index, error.pos)}: "
                        f"{error.msg}; a JSON array cannot be read past a syntax error"
                    ) from None
            if end is None:
                continue
            if end - index > limits.line_bytes:
                # Decoded in one refill, but still over the limit: refuse it like a long line.
                position.line += buffer.count("\n", index, end)
                index = end
                yield item, 0, SourceRecord(line=item, reason=_item_over_limit(limits))
                continue
            size = end - index
            position.line += buffer.count("\n", index, end)
            index = end
            if not isinstance(value, dict):
                yield (
                    item,
                    size,
                    SourceRecord(line=item, reason=f"not a JSON object but {type_name(value)}"),
                )
                continue
            yield item, size, value
    except FileLimit:
        stopped = over_file_limit(position.line, limits)
        stopped.line = item + 1
        yield item + 1, 0, stopped
    except Stop as stop:
        yield item + 1, 0, SourceRecord(line=item + 1, reason=str(stop), final=True)
