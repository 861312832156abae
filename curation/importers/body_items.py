"""Where each item of a request body (a JSON array, or JSON Lines) starts and ends, found
while the body is still arriving, without parsing or holding it.

The ingest API feeds the body through `ItemSplitter` chunk by chunk as it reads it from the
socket, so it can count items and stop reading at the first one over the limit; only the
offsets are kept. Each item is parsed later on its own (orjson), so an item that is nested
too deeply, holds a number out of range or a lone surrogate is that item's error, with its
line and column, and the items beside it are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"
_NON_SPACE = re.compile(rb"[^ \t\r\n]")
# Inside an item: a whole string (one match however many escapes it holds), the start of a
# string that goes on past this chunk, or a run of opening or of closing brackets (one match
# for a run, so that `[[[[…` costs a regex call per chunk, not per byte).
_TOKEN = re.compile(
    rb'"[^"\\]*(?:\\.[^"\\]*)*"|"'
    # innermost brackets with no string inside (`[1, 2]`, `{}`), as many as follow each other
    rb'|(?:[\[{][^"\[\]{}]*[\]}][^"\[\]{}]*)+'
    rb"|[\[{]+|[\]}]+",
    re.DOTALL,
)
# The rest of a string that started in an earlier chunk, up to its closing quote.
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_SCALAR_END = re.compile(rb"[,\] \t\r\n]")
# UTF-8 continuation bytes: deleting them from a byte string leaves one byte per character.
_CONTINUATION = bytes(range(0x80, 0xC0))


class BodyError(Exception):
    """The body as a whole cannot be split into items (an answer of 400)."""


@dataclass(frozen=True)
class RawItem:
    """One item: its index, where it starts (line and column, 1-based, in characters) and
    its byte range in the body."""

    index: int
    line: int
    column: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def place(self, line: int, column: int) -> tuple[int, int]:
        """A line and column inside the item (1-based, as orjson reports them) as a line
        and column of the body."""
        if line <= 1:
            return self.line, self.column + column - 1
        return self.line + line - 1, column


class ItemSplitter:
    """Fed the body in chunks; returns the items each chunk completes."""

    def __init__(self) -> None:
        self.kind = ""  # "json" (an array) or "jsonl", once the first character is seen
        self.items = 0
        self._base = 0  # offset of the current chunk in the body
        self._mark = 0  # the body offset that `_line` and `_column` describe
        self._line = 1
        self._column = 1
        self._start: tuple[int, int, int] | None = None  # offset, line, column of the item
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._scalar = False
        self._expect = "first"  # first | value | comma
        self._closed = False

    # -- positions ---------------------------------------------------------------------

    def _advance(self, chunk: bytes, offset: int) -> tuple[int, int]:
        """Line and column of body offset `offset` (within the current chunk)."""
        segment = chunk[self._mark - self._base : offset - self._base]
        newlines = segment.count(b"\n")
        if newlines:
            self._line += newlines
            segment = segment[segment.rindex(b"\n") + 1 :]
            self._column = 1
        self._column += len(segment.translate(None, _CONTINUATION))
        self._mark = offset
        return self._line, self._column

    def where(self, chunk: bytes, offset: int) -> str:
        line, column = self._advance(chunk, offset)
        return f"line {line}, column {column}"

    # -- feeding -------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[RawItem]:
        done: list[RawItem] = []
        pos = 0
        if self._base == 0 and chunk.startswith(BOM):
            pos = len(BOM)
            self._mark = len(BOM)
        if not self.kind:
            match = _NON_SPACE.search(chunk, pos)
            if match is not None:
                if chunk[match.start()] == ord("["):
                    self.kind = "json"
                    pos = match.start() + 1
                else:
                    self.kind = "jsonl"
        if self.kind == "json":
            self._feed_array(chunk, pos, done)
        elif self.kind == "jsonl":
            self._feed_lines(chunk, pos, done)
        self._advance(chunk, self._base + len(chunk))
        self._base += len(chunk)
        return done

    def close(self) -> list[RawItem]:
        """Items completed by the end of the body; BodyError when it ends mid-structure."""
        if not self.kind:
            raise BodyError("the body is empty: send a JSON array or JSONL of conversations")
        done: list[RawItem] = []
        if self.kind == "jsonl":
            if self._start is not None:
                self._finish(self._base, done)
            return done
        if self._scalar:
            self._finish(self._base, done)
        if self._start is not None:
            _, line, column = self._start
            raise BodyError(
                f"the body ends inside item {self.items} (which starts at line {line}, "
                f"column {column}): a string, array or object is not closed"
            )
        if not self._closed:
            raise BodyError(
                f"the JSON array is not closed: the body ends at line {self._line}, "
                f"column {self._column} without its ]"
            )
        return done

    def _begin(self, chunk: bytes, offset: int) -> None:
        line, column = self._advance(chunk, offset)
        self._start = (offset, line, column)

    def _finish(self, end: int, done: list[RawItem]) -> None:
        assert self._start is not None
        offset, line, column = self._start
        done.append(RawItem(self.items, line, column, offset, end))
        self.items += 1
        self._start = None
        self._scalar = False
        self._expect = "comma"

    def _feed_lines(self, chunk: bytes, pos: int, done: list[RawItem]) -> None:
        while pos < len(chunk):
            if self._start is None:
                match = _NON_SPACE.search(chunk, pos)
                if match is None:
                    return
                pos = match.start()
                self._begin(chunk, self._base + pos)
            end = chunk.find(b"\n", pos)
            if end < 0:
                return
            self._finish(self._base + end, done)
            pos = end + 1

    def _feed_array(self, chunk: bytes, pos: int, done: list[RawItem]) -> None:
        size = len(chunk)
        while pos < size:
            if self._closed:
                match = _NON_SPACE.search(chunk, pos)
                if match is not None:
                    where = self.where(chunk, self._base + match.start())
                    raise BodyError(f"unexpected text after the closing ] at {where}")
                return
            if self._start is None:
                match = _NON_SPACE.search(chunk, pos)
                if match is None:
                    return
                pos = match.start()
                char = chunk[pos : pos + 1]
                if char == b"]":
                    if self._expect == "value":
                        where = self.where(chunk, self._base + pos)
                        raise BodyError(f"a comma before ] at {where}: remove it")
                    self._closed = True
                    pos += 1
                    continue
                if char == b",":
                    if self._expect != "comma":
                        where = self.where(chunk, self._base + pos)
                        raise BodyError(f"unexpected comma at {where}")
                    self._expect = "value"
                    pos += 1
                    continue
                if self._expect == "comma":
                    where = self.where(chunk, self._base + pos)
                    raise BodyError(f"expected , or ] between items at {where}")
                self._begin(chunk, self._base + pos)
                pos += 1
                if char in (b"[", b"{"):
                    self._depth = 1
                elif char == b'"':
                    self._in_string = True
                    self._depth = 0
                else:
                    self._scalar = True
                continue
            if self._scalar:
                match = _SCALAR_END.search(chunk, pos)
                if match is None:
                    return
                pos = match.start()
                self._finish(self._base + pos, done)
                continue
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                    pos += 1
                    continue
                pos = _STRING_REST.match(chunk, pos).end()  # type: ignore[union-attr]  # this pattern matches the empty string too
                if pos >= size:
                    return
                if chunk[pos : pos + 1] == b"\\":  # an escape split by the chunk's end
                    self._escaped = True
                    pos += 1
                    continue
                pos += 1
                self._in_string = False
                if self._depth == 0:
                    self._finish(self._base + pos, done)
                continue
            match = _TOKEN.search(chunk, pos)
            if match is None:
                return
            token = match.group()
            pos = match.end()
            first = token[:1]
            if first == b'"':
                if len(token) == 1:
                    self._in_string = True  # it goes on in the next chunk
                elif self._depth == 0:
                    self._finish(self._base + pos, done)
            elif first in (b"[", b"{"):
                if token[-1:] not in (b"[", b"{"):
                    continue  # balanced innermost brackets: the depth is unchanged
                self._depth += len(token)
            elif len(token) < self._depth:
                self._depth -= len(token)
            else:
                pos = match.start() + self._depth
                self._depth = 0
                self._finish(self._base + pos, done)
