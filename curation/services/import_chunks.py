"""The CPU half of an import: records cut into chunks, each chunk deduplicated, token-counted,
flagged and serialised as COPY text, in this process or in parsing processes (JSON Lines).

`curation.services.imports` writes the prepared chunks (the database half).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from curation.importers import (
    Limits,
    RawLine,
    SourceRecord,
    iter_raw_lines,
    iter_records,
    record_from_line,
)
from curation.lifelines import die_with_parent
from curation.services.import_counts import count_unmapped
from curation.services.preference_imports import PreferenceFacts, preference_facts
from curation.token_count import count_conversations, get_counter


def chunks_of(records: Iterable[Any], *, size: int, max_bytes: int) -> Iterator[list[Any]]:
    """Chunks of at most `size` records and about `max_bytes` decompressed bytes, so that a
    chunk of long lines holds as little memory as a chunk of short ones."""
    chunk: list[Any] = []
    held = 0
    for record in records:
        chunk.append(record)
        held += record.size if isinstance(record, SourceRecord) else len(record[2])
        if len(chunk) >= size or held >= max_bytes:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


@dataclass(frozen=True)
class ChunkContext:
    """What preparing a chunk needs to know, picklable for the parsing processes."""

    dataset_id: int
    batch_id: int
    token_limit: int
    fmt: str


def parsing_pool(stream: Any, fmt: str, size: int) -> ProcessPoolExecutor | None:
    """Processes that parse, validate, hash and count JSON Lines chunks in parallel, when
    the file is JSON Lines and big enough to repay starting them."""
    processes = settings.CURATOR_IMPORT_PROCESSES
    if processes < 2 or fmt == "csv" or size < settings.CURATOR_IMPORT_PARALLEL_MIN_BYTES:
        return None
    head = stream.peek(16) if hasattr(stream, "peek") else b""
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
        return None
    get_counter()  # loaded once here, shared with the forked processes
    # The parsing processes die with this one: a work horse killed outright must not leave
    # them running (each holds its memory and connections).
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("fork"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


def prepared_chunks(
    stream: Any,
    counter: Any,
    context: ChunkContext,
    *,
    limits: Limits,
    skip: int,
    pool: ProcessPoolExecutor | None,
) -> Iterator[PreparedChunk]:
    """Prepared chunks in file order: in this process, or spread over the pool's processes
    with a few chunks in flight (memory stays a few chunks whatever the file)."""
    size = settings.CURATOR_IMPORT_BATCH_SIZE
    max_bytes = settings.CURATOR_IMPORT_CHUNK_BYTES
    if pool is None:
        records = iter_records(stream, context.fmt, limits=limits, skip=skip)
        for chunk in chunks_of(records, size=size, max_bytes=max_bytes):
            yield prepare_chunk(context, chunk, done=counter.position)
        return
    pending: deque[Future[PreparedChunk]] = deque()
    raw = iter_raw_lines(stream, limits=limits, skip=skip)
    for chunk in chunks_of(raw, size=size, max_bytes=max_bytes):
        pending.append(pool.submit(prepare_raw_chunk, context, chunk, counter.position))
        # One chunk per process in flight, and one more read ahead.
        if len(pending) > settings.CURATOR_IMPORT_PROCESSES:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def prepare_raw_chunk(
    context: ChunkContext, items: list[RawLine | SourceRecord], done: int | None
) -> PreparedChunk:
    """Runs in a parsing process: raw lines to a prepared chunk."""
    records = [record_from_line(context.fmt, item) for item in items]
    return prepare_chunk(context, records, done=done, threads=False)


@dataclass
class PreparedChunk:
    rows: list[bytes]  # COPY lines, one per unique conversation
    hashes: list[str]  # their content hashes, in the same order
    flagged: list[bool]  # whether each has a warning flag
    bad: list[SourceRecord]
    good: int
    read: int
    done: int | None
    unmapped: dict[str, int]
    # content hash -> the preference facts of that row (see curation.services.preference_imports)
    preferences: dict[str, PreferenceFacts] = field(default_factory=dict)


def prepare_chunk(
    context: ChunkContext, chunk: list[SourceRecord], *, done: int | None, threads: bool = True
) -> PreparedChunk:
    """The CPU half of a chunk: dedup inside it, token counts, flags, and the COPY text itself.

    Rows are serialized here, with orjson, so that the writer thread only ships bytes and
    does not compete with this one for the interpreter.
    """
    good = [record for record in chunk if record.normalized is not None]
    bad = [record for record in chunk if record.normalized is None]
    unmapped = count_unmapped(good)
    seen: set[str] = set()
    unique: list[tuple[SourceRecord, str]] = []
    for record in good:
        digest = record.normalized.content_hash  # type: ignore[union-attr]  # `good` holds valid records only
        if digest not in seen:
            seen.add(digest)
            unique.append((record, digest))
    counts = count_conversations(
        [(r.normalized.messages, r.normalized.tools) for r, _ in unique],  # type: ignore[union-attr]  # `good` holds valid records only
        threads=threads,
    )
    now = timezone.now().isoformat().encode()
    lines: list[bytes] = []
    hashes: list[str] = []
    flagged: list[bool] = []
    preferences: dict[str, PreferenceFacts] = {}
    rejected = 0
    prefix = f"{context.dataset_id}\t{context.batch_id}\t".encode()
    for (record, digest), (tokens, assistant_tokens) in zip(unique, counts, strict=True):
        normalized = record.normalized
        assert normalized is not None
        messages = _copy_json(normalized.messages)
        metadata = _copy_json(normalized.metadata)
        tools = _copy_json(normalized.tools)
        facts = preference_facts(normalized)
        if (
            b"u0000" in messages
            or b"u0000" in tools
            or b"u0000" in metadata
            or (facts is not None and "\x00" in repr(facts))
        ) and _has_nul((normalized.messages, normalized.tools, normalized.metadata, facts)):
            # PostgreSQL's jsonb cannot hold U+0000; say so for this line, keep the others.
            record.normalized = None
            record.reason = "contains a NUL character (\\u0000), which cannot be stored"
            bad.append(record)
            rejected += 1
            continue
        flags = normalized.warnings()
        if tokens > context.token_limit:
            flags.append("over_token_limit")
        hashes.append(digest)
        flagged.append(bool(flags))
        if facts is not None:
            preferences[digest] = facts
        parallel = {None: b"\\N", True: b"t", False: b"f"}[normalized.parallel_tool_calls]
        lines.append(
            b"\t".join(
                (
                    prefix + str(record.line).encode(),
                    messages,
                    tools,
                    parallel,
                    digest.encode(),
                    b"pending_pii",
                    str(len(normalized.messages)).encode(),
                    str(tokens).encode(),
                    str(assistant_tokens).encode(),
                    ("{" + ",".join(flags) + "}").encode(),
                    metadata,
                    b"0",
                    now,
                    now,
                )
            )
            + b"\n"
        )
    return PreparedChunk(
        rows=lines,
        hashes=hashes,
        flagged=flagged,
        bad=bad,
        good=len(good) - rejected,
        read=len(chunk),
        done=done,
        unmapped=unmapped,
        preferences=preferences,
    )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(item) for item in value)
    return False


def _copy_json(value: Any) -> bytes:
    """A JSON value as a field of COPY's text format: NULL as \\N, backslashes doubled.

    orjson escapes every control character inside strings, so tabs and newlines never
    appear raw; only the backslash is special to COPY.
    """
    if value is None:
        return b"\\N"
    return orjson.dumps(value).replace(b"\\", b"\\\\")
