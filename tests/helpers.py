"""Helpers for the permission tests that walk every page as each kind of visitor.

The visitors are the users of tests/conftest.py: a dataset admin, a reviewer of the same
dataset, an outsider (admin of another dataset only) and an anonymous visitor.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from typing import Any

import pytest

# Parametrize a permission test over these; as_user turns one into the user to log in.
ALL = ("admin", "reviewer", "outsider", "anonymous")


def as_user(request: pytest.FixtureRequest, who: str) -> Any:
    """The user fixture that ``who`` names (``admin_user`` for "admin"), or None for anonymous."""
    return (
        None
        if who == "anonymous"
        else request.getfixturevalue("admin_user" if who == "admin" else who)
    )


def assert_page_access(
    client: Any,
    who: str,
    pages: Mapping[str, tuple[str, Collection[str]]],
    *,
    ok: Collection[int] = (200,),
) -> None:
    """GET every page (name: (url, visitors allowed)) and check what ``who`` gets: a login
    redirect when anonymous, ``ok`` when allowed, 404 for an outsider (a dataset they are
    not in does not exist for them), 403 for a member without the role."""
    for name, (url, allowed) in pages.items():
        response = client.get(url)
        if who == "anonymous":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"], name
        elif who in allowed:
            assert response.status_code in ok, name
        elif who == "outsider":
            assert response.status_code == 404, name
        else:
            assert response.status_code == 403, name


def assert_admin_actions(
    client: Any, who: str, actions: Mapping[str, tuple[str, Mapping[str, Any]]]
) -> None:
    """POST every dataset-admin action (name: (url, data)) and check what ``who`` gets: a
    login redirect when anonymous, 404 for an outsider, 403 for a reviewer, and the
    redirect that follows a done action for an admin."""
    expected = {"anonymous": 302, "outsider": 404, "reviewer": 403, "admin": 302}[who]
    for name, (url, data) in actions.items():
        response = client.post(url, data)
        assert response.status_code == expected, name
        if who == "anonymous":
            assert "/accounts/login/" in response["Location"], name


def gunicorn_command(port: int) -> list[str]:
    """The production app under gunicorn (its own settings module), one sync worker on a
    loopback port: what the production tests and the ingest-memory benchmark start."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:curation.gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "curation.wsgi:application",
    ]
