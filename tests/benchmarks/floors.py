"""The database's own share of a benchmark: rows it must store, COPied back in as they are.

Shared by `bench_import.py` and `bench_snapshot.py`, which print it beside their ratios so
that a target below what the database alone needs shows as such.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

BLOCK = 1024 * 1024


def copy_back_seconds(
    connection: Any, *, read: str, write: str, before: Sequence[tuple[str, Sequence[Any]]] = ()
) -> float:
    """Read rows with `read` (COPY … TO STDOUT), run `before`, then time `write` (COPY … FROM
    STDIN) of the same bytes with the deferred foreign-key checks; all rolled back."""
    buffer = bytearray()
    with connection.cursor().copy(read) as copy:
        for data in copy:
            buffer += data
    for statement, params in before:
        connection.execute(statement, params)
    started = time.perf_counter()
    with connection.cursor().copy(write) as copy:
        for offset in range(0, len(buffer), BLOCK):
            copy.write(buffer[offset : offset + BLOCK])
    connection.execute("SET CONSTRAINTS ALL IMMEDIATE")
    elapsed = time.perf_counter() - started
    connection.rollback()
    return elapsed
