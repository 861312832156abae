"""Ingest's per-item errors (docs/api.md): each refused item is listed by index with the field
and a reason that says what was wrong, the good items beside it are imported, and the import's
error rows keep each refused item's line (index + 1), as a file import's do.

mutmut's run over curation/services/ingest.py found the score's bounds, the text fields' limits,
the metadata check and the reasons' wording untested (docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from curation.models import ImportLineError
from curation.services.ingest import TEXT_FIELDS
from tests.api.conftest import item, post_items

pytestmark = pytest.mark.django_db


def errors_by_index(response: Any) -> dict[int, tuple[str, str]]:
    assert response.status_code == 200, response.content
    return {
        error["index"]: (error["field"], error["reason"]) for error in response.json()["errors"]
    }


def test_a_score_from_1_to_5_is_kept_and_one_outside_is_refused_saying_what_it_was(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    kept = [1, 5, 3.5]
    refused = [0, 0.99, 5.01, 6, None, "4", True]
    items = [item(n, score=score) for n, score in enumerate(kept + refused)]

    response = post_items(api, dataset.slug, secret, items)

    assert response.json()["imported"] == len(kept)
    reason = "score must be a number from 1 to 5 when present, not "
    assert errors_by_index(response) == {
        3: ("score", reason + "0"),
        4: ("score", reason + "0.99"),
        5: ("score", reason + "5.01"),
        6: ("score", reason + "6"),
        7: ("score", reason + "null"),
        8: ("score", reason + "'4'"),
        9: ("score", reason + "True"),
    }


def test_each_text_field_at_its_limit_is_kept_and_over_it_or_not_a_string_is_refused(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    items, expected = [], {}
    # One field per item, so a field checked only when the fields before it are present
    # would pass unchecked.
    for name, limit in TEXT_FIELDS.items():
        items.append(item(len(items), **{name: "a" * limit}))
        expected[len(items)] = (name, f"{name} is longer than {limit} characters")
        items.append(item(len(items), **{name: "a" * (limit + 1)}))
        expected[len(items)] = (name, f"{name} must be a string")
        items.append(item(len(items), **{name: 7}))

    response = post_items(api, dataset.slug, secret, items)

    assert errors_by_index(response) == expected
    assert response.json()["imported"] == len(TEXT_FIELDS)


def test_metadata_that_is_not_an_object_is_refused(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")

    response = post_items(
        api, dataset.slug, secret, [item(1, metadata={"region": "eu"}), item(2, metadata=["eu"])]
    )

    assert errors_by_index(response) == {1: ("metadata", "metadata must be a JSON object")}
    assert response.json()["imported"] == 1


def test_an_item_that_is_not_an_object_is_refused_naming_what_it_is(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")

    response = post_items(api, dataset.slug, secret, [item(1), None, [item(2)], 3])

    assert errors_by_index(response) == {
        1: ("", "not a JSON object but null"),
        2: ("", "not a JSON object but list"),
        3: ("", "not a JSON object but int"),
    }


def test_the_imports_error_rows_keep_each_refused_items_line(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")
    lines = [json.dumps(item(1)), json.dumps(item(2, score=9)), "{not json", '"text"']

    response = post_items(api, dataset.slug, secret, "\n".join(lines))

    rows = ImportLineError.objects.filter(batch_id=response.json()["batch"])
    assert [(row.line, row.field) for row in rows] == [(2, "score"), (3, ""), (4, "")]


def test_an_item_over_the_size_limit_is_refused_naming_its_place_and_size(
    api, dataset, admin_user, make_token, settings
):
    items = [item(1), item(2, comment="a" * 3000), item(3, comment="a" * 1000)]
    # The third item is exactly at the limit, which it may be.
    limit = settings.CURATOR_MAX_LINE_BYTES = len(json.dumps(items[2]))
    secret = make_token(admin_user, "ingest")
    body = json.dumps(items)
    big = json.dumps(items[1])

    response = post_items(api, dataset.slug, secret, body)

    column, size = body.index(big) + 1, len(big)
    assert errors_by_index(response) == {
        1: (
            "",
            f"item at line 1, column {column} is {size} bytes, over the limit of {limit} per item",
        )
    }
    assert response.json()["imported"] == 2
    rows = ImportLineError.objects.filter(batch_id=response.json()["batch"])
    assert [row.line for row in rows] == [2]


def test_a_text_that_only_mentions_the_nul_escape_is_imported(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")
    # The JSON text holds "\\u0000" (an escaped backslash), which is no NUL character.
    mentions = item(1, comment="end a C string with \\u0000", metadata={"tags": ["c", "\\u0000"]})

    response = post_items(api, dataset.slug, secret, [mentions])

    assert response.json()["imported"] == 1 and response.json()["errors"] == []
