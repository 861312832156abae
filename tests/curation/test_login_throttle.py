"""Login throttling (django-axes): per account and per address, the admin login included."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(db):  # type: ignore[no-untyped-def]
    user = UserFactory(username="alice", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def attempt(client, username: str, password: str, *, ip: str = "10.0.0.1", url: str = ""):  # type: ignore[no-untyped-def]
    return client.post(
        url or reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def logged_in(client) -> bool:  # type: ignore[no-untyped-def]
    return "_auth_user_id" in client.session


def test_the_right_password_is_refused_after_five_wrong_ones(client, alice, settings):
    statuses = [
        attempt(client, "alice", "wrong").status_code for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    response = attempt(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert not logged_in(client)


def test_an_account_is_locked_whatever_address_the_attempts_come_from(client, alice, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "alice", "wrong", ip=f"10.0.1.{number}")
    assert attempt(client, "alice", PASSWORD, ip="10.0.2.1").status_code == 429
    assert not logged_in(client)


def test_an_address_is_locked_whatever_account_it_tries(client, alice, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, f"guess{number}", "wrong", ip="10.0.3.3")
    assert attempt(client, "alice", PASSWORD, ip="10.0.3.3").status_code == 429
    assert not logged_in(client)
    # Another address still logs alice in.
    assert attempt(client, "alice", PASSWORD, ip="10.0.3.4").status_code == 302
    assert logged_in(client)


def test_a_success_before_the_limit_resets_the_count(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too(client, alice, settings):
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "alice", "wrong", url=url)
    assert attempt(client, "alice", PASSWORD, url=url).status_code == 429
    assert not logged_in(client)
    # And the site's own login shares the count.
    assert attempt(client, "alice", PASSWORD).status_code == 429


def test_behind_a_proxy_the_address_is_the_one_the_proxy_appended(client, alice, settings):
    settings.CURATOR_BEHIND_PROXY = True
    for number in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("login"),
            {"username": f"guess{number}", "password": "wrong"},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{number}, 10.9.9.9",
        )
    response = client.post(
        reverse("login"),
        {"username": "alice", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    assert response.status_code == 429
    response = client.post(
        reverse("login"),
        {"username": "alice", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="10.9.9.10",
    )
    assert response.status_code == 302
