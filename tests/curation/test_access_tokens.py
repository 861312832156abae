"""Personal access tokens: made, shown once, stored hashed, revoked, on the user's own page."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from curation.models import AccessToken, AuditEvent
from tests.factories import built_version
from tests.helpers import ALL, as_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ALL)
def test_token_page_permissions(request, who, admin_user, reviewer, outsider, client_for):
    client = client_for(as_user(request, who))
    response = client.get(reverse("token_list"))
    if who == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        assert client.post(reverse("token_list"), {"name": "x"}).status_code == 302
        assert not AccessToken.objects.exists()
    else:
        assert response.status_code == 200


@pytest.mark.parametrize("who", ALL)
def test_revoke_permissions(request, who, admin_user, reviewer, outsider, client_for):
    token, _ = AccessToken.issue(user=reviewer, name="reviewer's script")
    response = client_for(as_user(request, who)).post(reverse("token_revoke", args=[token.pk]))
    expected = {"anonymous": 302, "reviewer": 302, "admin": 404, "outsider": 404}[who]
    assert response.status_code == expected
    token.refresh_from_db()
    assert token.is_revoked == (who == "reviewer")


def test_create_shows_the_secret_once_and_stores_only_its_hash(reviewer, client_for):
    client = client_for(reviewer)
    response = client.post(reverse("token_list"), {"name": "nightly download"})
    assert response.status_code == 200
    secret = response.context["new_secret"]
    assert secret.startswith("cur_") and len(secret) > 40
    assert secret.encode() in response.content
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    token = AccessToken.objects.get(user=reviewer)
    assert token.name == "nightly download"
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(AccessToken.objects.filter(pk=token.pk).values().get())
    assert secret.startswith(token.prefix) and len(token.prefix) < 16
    later = client.get(reverse("token_list"))
    assert secret.encode() not in later.content and token.prefix.encode() in later.content
    event = AuditEvent.objects.get(action="token.create", actor=reviewer)
    assert secret not in str(event.details)


def test_a_name_is_required(reviewer, client_for):
    response = client_for(reviewer).post(reverse("token_list"), {"name": "  "})
    assert response.status_code == 200 and response.context["new_secret"] is None
    assert not AccessToken.objects.exists()


def test_users_see_only_their_own_tokens(reviewer, outsider, client_for):
    AccessToken.issue(user=outsider, name="outsider-token")
    AccessToken.issue(user=reviewer, name="reviewer-token")
    content = client_for(reviewer).get(reverse("token_list")).content
    assert b"reviewer-token" in content and b"outsider-token" not in content


def test_revoke_is_audited_and_authentication_stops(reviewer, client_for):
    token, secret = AccessToken.issue(user=reviewer, name="ci")
    assert AccessToken.authenticate(secret) == token
    response = client_for(reviewer).post(reverse("token_revoke", args=[token.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("token_list")
    assert AccessToken.authenticate(secret) is None
    assert AuditEvent.objects.filter(
        action="token.revoke", actor=reviewer, object_id=str(token.pk)
    ).exists()
    assert not token.revoke()  # already revoked


def test_authenticate_rejects_unknown_and_malformed_secrets(reviewer):
    _, secret = AccessToken.issue(user=reviewer, name="x")
    assert AccessToken.authenticate(secret + "x") is None
    assert AccessToken.authenticate(secret[4:]) is None
    assert AccessToken.authenticate("") is None


# -- expiry, password changes, deactivation, other Authorization schemes ------------------


@pytest.fixture
def zip_url(dataset):  # type: ignore[no-untyped-def]
    version = built_version(dataset)
    return reverse("version_zip", args=[dataset.slug, version.number])


def bearer(client, url: str, secret: str) -> int:  # type: ignore[no-untyped-def]
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code


def test_tokens_expire_after_90_days_by_default_and_the_list_shows_it(reviewer, client_for):
    client = client_for(reviewer)
    client.post(reverse("token_list"), {"name": "ci"})
    token = AccessToken.objects.get(user=reviewer)
    lifetime = token.expires_at - token.created_at
    assert timedelta(days=89, hours=23) < lifetime <= timedelta(days=90, seconds=5)
    content = client.get(reverse("token_list")).content.decode()
    assert "Expires" in content and token.expires_at.strftime("%Y-%m-%d") in content


def test_a_token_maker_can_choose_a_shorter_lifetime(reviewer, client_for):
    client_for(reviewer).post(reverse("token_list"), {"name": "ci", "days": "7"})
    token = AccessToken.objects.get(user=reviewer)
    assert abs(token.expires_at - token.created_at - timedelta(days=7)) < timedelta(seconds=5)


def test_an_expired_token_gets_401_and_shows_expired(dataset, reviewer, client_for, zip_url):
    token, secret = AccessToken.issue(user=reviewer, name="old")
    AccessToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert AccessToken.authenticate(secret) is None
    assert bearer(Client(), zip_url, secret) == 401
    assert b"expired" in client_for(reviewer).get(reverse("token_list")).content


def test_a_password_change_revokes_every_token(dataset, reviewer, client_for, zip_url):
    _, secret = AccessToken.issue(user=reviewer, name="ci")
    assert bearer(Client(), zip_url, secret) == 200
    client = client_for(reviewer)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "pass-for-tests",
            "new_password1": "a-new-long-passphrase-42",
            "new_password2": "a-new-long-passphrase-42",
        },
    )
    assert response.status_code == 302
    assert bearer(Client(), zip_url, secret) == 401
    assert AccessToken.objects.get(user=reviewer).is_revoked
    assert b"revoked" in client.get(reverse("token_list")).content


def test_a_password_set_outside_the_site_revokes_too(dataset, reviewer, zip_url):
    _, secret = AccessToken.issue(user=reviewer, name="ci")
    reviewer.set_password("changed-in-the-admin-1")
    reviewer.save()
    assert bearer(Client(), zip_url, secret) == 401


def test_deactivation_revokes_for_good(dataset, reviewer, zip_url):
    token, secret = AccessToken.issue(user=reviewer, name="ci")
    reviewer.is_active = False
    reviewer.save()
    assert bearer(Client(), zip_url, secret) == 401
    reviewer.is_active = True
    reviewer.save()
    assert bearer(Client(), zip_url, secret) == 401
    token.refresh_from_db()
    assert token.is_revoked


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Negotiate xyz"])
def test_another_authorization_scheme_falls_back_to_the_session(
    dataset, reviewer, client_for, zip_url, header
):
    assert client_for(reviewer).get(zip_url, HTTP_AUTHORIZATION=header).status_code == 200
    anonymous = Client().get(zip_url, HTTP_AUTHORIZATION=header)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
