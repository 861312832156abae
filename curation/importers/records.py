"""What every reader shares: the record a line becomes, the limits, the binary stream with
its progress counter, and the ways reading stops (file limit, truncated or corrupt file)."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from curation.preferences import PREFERENCE_FORMAT, normalize_preference
from curation.validation import NORMALIZERS, Normalized, RecordError

# Every format's record reader: the chat formats' and the preference shapes'.
READERS = {**NORMALIZERS, PREFERENCE_FORMAT: normalize_preference}
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
CHUNK = 1024 * 1024
COMPRESSION_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


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


class Position:
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
        count = self.raw.readinto(buffer)  # type: ignore[attr-defined]  # a raw binary stream has readinto
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
        return gzip.GzipFile(fileobj=buffered, mode="rb"), counter  # type: ignore[return-value]  # GzipFile reads like the buffered reader
    return buffered, counter


_Item = TypeVar("_Item")


def guard_compressed(
    records: Iterator[_Item], position: Position
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


def normalize_value(normalize: Any, line: int, size: int, value: Any) -> SourceRecord:
    try:
        return SourceRecord(line=line, normalized=normalize(value), size=size)
    except RecordError as error:
        return SourceRecord(line=line, reason=error.reason, field=error.field, size=size)
    except RecursionError:
        return SourceRecord(line=line, reason="nested too deeply", size=size)


def over_file_limit(line: int, limits: Limits) -> SourceRecord:
    return SourceRecord(
        line=line,
        reason=f"the file is over the size limit of {limits.file_bytes:,} bytes once decompressed "
        f"(CURATOR_IMPORT_MAX_FILE_BYTES); reading stopped at line {line}, "
        "the lines before it were read",
        final=True,
    )


def over_line_limit(limits: Limits) -> str:
    return f"line is over the size limit of {limits.line_bytes:,} bytes (CURATOR_MAX_LINE_BYTES)"


def bounded_lines(
    stream: IO[bytes], limits: Limits, position: Position
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
            raise FileLimit
        ended = raw.endswith(b"\n")
        if len(raw) - ended - raw.endswith(b"\r\n") > limits.line_bytes:
            while not ended:
                rest = stream.readline(CHUNK)
                position.bytes += len(rest)
                if position.bytes > limits.file_bytes:
                    raise FileLimit
                ended = not rest or rest.endswith(b"\n")
            yield position.line, None
            continue
        yield position.line, raw


class FileLimit(Exception):
    """The decompressed file passed CURATOR_IMPORT_MAX_FILE_BYTES; reading stops there."""


class Stop(Exception):
    """The rest of the file cannot be read; what was read before stays."""


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
