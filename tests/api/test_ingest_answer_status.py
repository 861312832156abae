"""Ingest's answer status (docs/api.md): 422 when every item was refused, 200 as soon as one was
imported or was a duplicate of a stored conversation.

Hand mutation of curation/services/ingest.py found the all-refused 422 untested
(docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import pytest

from curation.models import Conversation
from tests.api.conftest import item, post_items

pytestmark = pytest.mark.django_db


def test_a_request_whose_every_item_is_refused_answers_422_listing_each(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")

    response = post_items(api, dataset.slug, secret, [item(1, feedback="sideways"), "text"])

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["imported"] == 0 and body["duplicates"] == 0
    assert [error["index"] for error in body["errors"]] == [0, 1]
    assert not Conversation.objects.exists()


def test_a_request_of_a_duplicate_and_a_refused_item_answers_200(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    assert post_items(api, dataset.slug, secret, [item(1)]).status_code == 200

    response = post_items(api, dataset.slug, secret, [item(1), item(2, score=9)])

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["imported"] == 0 and body["duplicates"] == 1
    assert [error["index"] for error in body["errors"]] == [1]
