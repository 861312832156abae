"""Parsing of query-string and form values that views read by hand (ids, numbers, text).

Anything a browser or a script can put in a URL arrives here: NUL characters (which
PostgreSQL refuses in text), digits that are not ASCII ("²" passes str.isdigit but not int),
numbers longer than Python converts or a bigint holds. Each helper answers None (or "") for
those, so a view treats them as "not given" or answers 404, never 500.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# PostgreSQL's bigint: every id column.
MAX_ID = 2**63 - 1
_MAX_DIGITS = len(str(MAX_ID))


def parse_int(value: object, *, maximum: int = MAX_ID) -> int | None:
    """A non-negative integer written in ASCII digits and within `maximum`, else None."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    if len(value) > _MAX_DIGITS:
        return None
    number = int(value)
    return number if number <= maximum else None


def parse_ints(values: Iterable[object], *, limit: int) -> list[int]:
    """The valid integers among `values`, at most `limit` of them."""
    found: list[int] = []
    for value in values:
        number = parse_int(value)
        if number is not None:
            found.append(number)
            if len(found) == limit:
                break
    return found


def parse_float(value: object) -> float | None:
    """A finite number, else None."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_text(value: object, *, max_length: int) -> str:
    """Trimmed text without NUL characters, cut to `max_length`."""
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip()[:max_length]
