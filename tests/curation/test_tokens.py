"""Personal access tokens: made, shown once, stored hashed, revoked, on the user's own page."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from curation.models import AccessToken, AuditEvent
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
