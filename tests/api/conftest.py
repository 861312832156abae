"""Fixtures for the JSON API tests: tokens of each kind and a client that sends them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from curation.models import AccessToken


@pytest.fixture
def make_token() -> Callable[..., str]:
    """make_token(user, scope="read", dataset=None) → the secret of a fresh token."""

    def make(user: Any, scope: str = "read", dataset: Any = None, days: int | None = None) -> str:
        _, secret = AccessToken.issue(
            user=user, name=f"{scope} test token", scope=scope, dataset=dataset, days=days
        )
        return secret

    return make


@pytest.fixture
def api() -> Client:
    """A client with no session: only the bearer header authenticates."""
    return Client()


def bearer(secret: str, **headers: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}", **headers}


def item(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You are the support assistant."},
            {"role": "user", "content": f"My order {n} has not arrived, what can I do?"},
            {"role": "assistant", "content": f"Sorry about order {n}; I have reopened it."},
        ],
        **extra,
    }


def post_items(
    client: Client, slug: str, secret: str, items: Any, *, jsonl: bool = False, **headers: str
) -> Any:
    if jsonl:
        body = "\n".join(json.dumps(entry) for entry in items)
    else:
        body = items if isinstance(items, str | bytes) else json.dumps(items)
    return client.post(
        f"/api/v1/datasets/{slug}/conversations",
        data=body,
        content_type="application/jsonl" if jsonl else "application/json",
        **bearer(secret, **headers),
    )


@pytest.fixture(autouse=True)
def no_waiting_follow_up() -> None:
    """Dataset ids repeat across test databases; a follow-up flag left in Redis by an earlier
    test would make a new ingest think its follow-up is already queued."""
    import django_rq

    connection = django_rq.get_connection("default")
    for key in connection.scan_iter("curator:ingest-follow-up:*"):
        connection.delete(key)
