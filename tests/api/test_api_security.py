"""Tokens without the scope, of another dataset, revoked or expired: JSON 401/403, never a
login redirect, and nothing imported."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from curation.models import AccessToken, Conversation, IngestRequest
from tests.api.conftest import bearer, item, post_items
from tests.factories import DatasetFactory, MembershipFactory, built_version

pytestmark = pytest.mark.django_db


def _assert_refused(response, status: int) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json() and response.json()["error"]["message"]
    assert not Conversation.objects.exists()
    assert not IngestRequest.objects.exists()


def test_no_token_is_401_json_not_a_redirect(api, dataset):
    response = api.post(
        f"/api/v1/datasets/{dataset.slug}/conversations", data="[]", content_type="application/json"
    )
    _assert_refused(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/api/v1/datasets").status_code == 401


def test_a_wrong_token_is_401(api, dataset, admin_user):
    _assert_refused(post_items(api, dataset.slug, "cur_not-a-real-token", [item(1)]), 401)


def test_a_revoked_token_is_401(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")
    AccessToken.objects.get(user=admin_user).revoke()
    _assert_refused(post_items(api, dataset.slug, secret, [item(1)]), 401)


def test_an_expired_token_is_401(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")
    AccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    _assert_refused(post_items(api, dataset.slug, secret, [item(1)]), 401)


def test_a_read_token_cannot_ingest(api, dataset, admin_user, make_token):
    response = post_items(api, dataset.slug, make_token(admin_user, "read"), [item(1)])
    _assert_refused(response, 403)
    assert response.json()["error"]["code"] == "insufficient_scope"


def test_an_ingest_token_cannot_read_conversations(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")
    response = api.get(f"/api/v1/datasets/{dataset.slug}/conversations", **bearer(secret))
    assert response.status_code == 403


def test_a_token_of_another_dataset_is_403(api, dataset, admin_user, make_token):
    other = DatasetFactory(slug="other")
    MembershipFactory(dataset=other, user=admin_user, role="admin")
    secret = make_token(admin_user, "ingest", dataset=other)
    response = post_items(api, dataset.slug, secret, [item(1)])
    _assert_refused(response, 403)
    assert response.json()["error"]["code"] == "wrong_dataset"
    assert post_items(api, "other", secret, [item(1)]).status_code == 200


def test_a_reviewer_cannot_ingest_even_with_an_ingest_token(api, dataset, reviewer, make_token):
    response = post_items(api, dataset.slug, make_token(reviewer, "ingest"), [item(1)])
    _assert_refused(response, 403)


def test_an_outsider_gets_404(api, dataset, outsider, make_token):
    _assert_refused(post_items(api, dataset.slug, make_token(outsider, "admin"), [item(1)]), 404)


def test_a_deactivated_users_token_is_401(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "admin")
    admin_user.is_active = False
    admin_user.save()
    _assert_refused(post_items(api, dataset.slug, secret, [item(1)]), 401)


def test_last_use_is_stamped(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "read")
    assert api.get("/api/v1/datasets", **bearer(secret)).status_code == 200
    assert AccessToken.objects.get(user=admin_user).last_used_at is not None


def test_downloads_keep_working_with_a_read_token_and_refuse_an_ingest_token(
    api, dataset, admin_user, make_token
):
    version = built_version(dataset)
    url = f"/d/{dataset.slug}/versions/{version.number}/files/train.jsonl"
    assert api.get(url, **bearer(make_token(admin_user, "read"))).status_code == 200
    assert api.get(url, **bearer(make_token(admin_user, "ingest"))).status_code == 403
    other = DatasetFactory(slug="third")
    MembershipFactory(dataset=other, user=admin_user, role="admin")
    assert api.get(url, **bearer(make_token(admin_user, "read", dataset=other))).status_code == 403
