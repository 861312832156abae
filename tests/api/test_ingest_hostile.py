"""Ingest under hostile bodies: bounded while it is read, and one bad item is one item's error."""

from __future__ import annotations

import io
import json

import django_rq
import pytest

from curation.models import Conversation
from curation.services.ingest import IngestError, read_body
from tests.api.conftest import item, post_items

pytestmark = pytest.mark.django_db


class EndlessBody(io.RawIOBase):
    """`[{},{},…` that never ends; counts the bytes handed out."""

    def __init__(self, unit: bytes = b"{},") -> None:
        self.unit = unit
        self.given = 0
        self.started = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else size
        head = b"" if self.started else b"["
        self.started = True
        data = head + self.unit * (size // len(self.unit))
        self.given += len(data)
        return data


def test_the_item_limit_stops_reading_at_the_first_item_over_it():
    stream = EndlessBody()
    with pytest.raises(IngestError) as caught:
        read_body(stream, max_bytes=64 * 1024**2, max_items=20000)
    assert caught.value.status == 413 and "limit of 20000" in caught.value.reason
    # 20,001 items of 3 bytes are 60 KB: reading stops within the chunk that holds them.
    assert stream.given <= 20001 * 3 + 2 * 65536


def test_the_byte_limit_stops_reading_a_body_without_a_declared_length():
    stream = EndlessBody(b'"' + b"x" * 1000 + b'",')
    with pytest.raises(IngestError) as caught:
        read_body(stream, max_bytes=1024**2, max_items=20000)
    assert caught.value.status == 413 and "1048576 bytes" in caught.value.reason
    assert stream.given <= 1024**2 + 65536


def test_jsonl_item_limit_stops_reading_early():
    lines = b"{}\n" * 5_000_000
    stream = io.BytesIO(lines)
    with pytest.raises(IngestError) as caught:
        read_body(stream, max_bytes=64 * 1024**2, max_items=20000)
    assert caught.value.status == 413
    assert stream.tell() < 200_000


def test_a_deeply_nested_item_is_its_own_error_and_the_items_beside_it_are_imported(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    deep = item(2, metadata={"x": None})
    text = json.dumps(deep).replace("null", "[" * 100_000 + "]" * 100_000)
    body = "[" + json.dumps(item(1)) + ",\n" + text + ",\n" + json.dumps(item(3)) + "]"
    response = post_items(api, dataset.slug, secret, body)
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["imported"] == 2
    [error] = result["errors"]
    assert error["index"] == 1 and error["line"] == 2 and error["column"] == 1
    assert "nested deeper than 1024 levels" in error["reason"]
    assert Conversation.objects.count() == 2


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ('"score": 1e400', "number is infinity"),
        ('"score": NaN', "unexpected character"),
        ('"comment": "\\ud800 alone"', "surrogate"),
    ],
)
def test_an_out_of_range_number_or_lone_surrogate_rejects_only_its_item_naming_line_and_column(
    api, dataset, admin_user, make_token, bad, words
):
    secret = make_token(admin_user, "ingest")
    good = json.dumps(item(1))
    broken = json.dumps(item(2))[:-1] + ", " + bad + "}"
    body = f"[{good},\n  {broken},\n{json.dumps(item(3))}]"
    response = post_items(api, dataset.slug, secret, body)
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["imported"] == 2
    [error] = result["errors"]
    assert error["index"] == 1 and (error["line"], error["column"]) == (2, 3)
    column = 3 + broken.index(bad.split(": ")[1][:2]) if "score" in bad else None
    assert "at line 2, column" in error["reason"] and words in error["reason"]
    if column is not None:
        assert f"column {column}:" in error["reason"]


def test_a_nul_character_is_named_for_its_item_and_the_others_are_kept(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    response = post_items(
        api, dataset.slug, secret, [item(1), item(2, comment="a\u0000b"), item(3)], jsonl=True
    )
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["imported"] == 2
    [error] = result["errors"]
    assert error["index"] == 1 and error["line"] == 2 and "NUL" in error["reason"]


def test_the_rate_limit_is_per_user_so_more_tokens_do_not_bypass_it(
    api, dataset, admin_user, make_token, settings
):
    settings.CURATOR_INGEST_RATE_LIMIT = 2
    django_rq.get_connection("default").flushdb()
    secrets = [make_token(admin_user, "ingest") for _ in range(3)]
    codes = [
        post_items(api, dataset.slug, secret, [item(n)]).status_code
        for n, secret in enumerate(secrets)
    ]
    assert codes == [200, 200, 429]
    assert Conversation.objects.count() == 2
