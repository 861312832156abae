"""Ingest's limits at their boundary (docs/api.md: a body over CURATOR_INGEST_MAX_BYTES, or more
than CURATOR_INGEST_MAX_ITEMS conversations, answers 413 naming the limit): a body exactly at a
limit is read, one byte or one item more is refused with the limit in the answer, and an item
that only ends with the body counts like the others.

Read as the API reads a body without a declared length (the view refuses a declared one that is
too long before reading). mutmut's run over curation/services/ingest.py found the boundaries and
the limit named in the answer untested (docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import io
import json

import pytest

from curation.services.ingest import IngestError, read_body
from tests.api.conftest import item


def jsonl(count: int, *, last_newline: bool = True) -> bytes:
    text = "\n".join(json.dumps(item(n)) for n in range(count))
    return (text + ("\n" if last_newline else "")).encode()


def test_a_body_of_exactly_the_byte_limit_is_read_and_one_byte_more_is_refused_naming_it():
    body = json.dumps([item(1), item(2)]).encode()

    read = read_body(io.BytesIO(body), max_bytes=len(body), max_items=10)

    assert (read.size, len(read.items)) == (len(body), 2)
    with pytest.raises(IngestError) as refused:
        read_body(io.BytesIO(body), max_bytes=len(body) - 1, max_items=10)
    assert refused.value.status == 413
    assert refused.value.reason == f"the body is over the limit of {len(body) - 1} bytes"
    assert refused.value.extra == {"limit": len(body) - 1}


def test_exactly_the_item_limit_is_read_and_one_more_is_refused_naming_where_reading_stopped():
    assert len(read_body(io.BytesIO(jsonl(3)), max_bytes=10**6, max_items=3).items) == 3

    with pytest.raises(IngestError) as refused:
        read_body(io.BytesIO(jsonl(5)), max_bytes=10**6, max_items=3)

    assert refused.value.status == 413 and refused.value.extra == {"limit": 3}
    assert refused.value.reason == (
        "more conversations than the limit of 3 per request: reading stopped at item 4 (line 4)"
    )


def test_an_item_that_ends_with_the_body_counts_against_the_item_limit():
    assert (
        len(read_body(io.BytesIO(jsonl(3, last_newline=False)), max_bytes=10**6, max_items=3).items)
        == 3
    )

    with pytest.raises(IngestError) as refused:
        read_body(io.BytesIO(jsonl(4, last_newline=False)), max_bytes=10**6, max_items=3)

    assert refused.value.status == 413 and refused.value.extra == {"limit": 3}
    assert refused.value.reason == "4 conversations are over the limit of 3 per request"
