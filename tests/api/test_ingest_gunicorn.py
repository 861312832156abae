"""Ingest through real gunicorn: a chunked body (no Content-Length) is read, not "empty"."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from curation.models import AccessToken, Conversation, Role
from tests.api.conftest import item
from tests.curation.test_production import gunicorn, production_static  # noqa: F401 (fixtures)
from tests.factories import DatasetFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def post_chunked(base: str, path: str, secret: str, chunks: list[bytes]) -> tuple[int, dict]:
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        connection.request(
            "POST",
            path,
            body=iter(chunks),
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def test_a_chunked_ingest_body_is_read_whole_under_gunicorn(gunicorn):  # noqa: F811
    dataset = DatasetFactory(slug="support")
    user = UserFactory(username="admin")
    MembershipFactory(dataset=dataset, user=user, role=Role.ADMIN)
    _, secret = AccessToken.issue(user=user, name="ingest", scope="ingest")
    base = gunicorn(CURATOR_INGEST_RATE_LIMIT="0")
    body = json.dumps([item(n) for n in range(3)]).encode()
    chunks = [body[i : i + 100] for i in range(0, len(body), 100)]
    status, answer = post_chunked(base, "/api/v1/datasets/support/conversations", secret, chunks)
    assert status == 200, answer
    assert answer["imported"] == 3 and answer["errors"] == []
    assert Conversation.objects.filter(dataset=dataset).count() == 3


def test_a_chunked_body_over_the_byte_limit_is_refused_while_it_is_read(gunicorn):  # noqa: F811
    dataset = DatasetFactory(slug="support")
    user = UserFactory(username="admin")
    MembershipFactory(dataset=dataset, user=user, role=Role.ADMIN)
    _, secret = AccessToken.issue(user=user, name="ingest", scope="ingest")
    base = gunicorn(CURATOR_INGEST_MAX_BYTES="200000", CURATOR_INGEST_RATE_LIMIT="0")
    chunks = [b"["] + [b'"' + b"x" * 10000 + b'",'] * 40 + [b"{}]"]
    status, answer = post_chunked(base, "/api/v1/datasets/support/conversations", secret, chunks)
    assert status == 413, answer
    assert "200000 bytes" in answer["error"]["message"]
    assert not Conversation.objects.exists()
