"""Nothing under /api/v1/ answers without a token: the schema included. Scopes agree between
the dataset list and each dataset, and the list names the caller's role."""

from __future__ import annotations

import pytest

from tests.api.conftest import bearer
from tests.factories import DatasetFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_refuses_a_request_without_a_token(api):
    response = api.get("/api/v1/openapi.json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_openapi_schema_refuses_a_bad_token(api):
    response = api.get("/api/v1/openapi.json", **bearer("cur_not-a-real-token"))
    assert response.status_code == 401


def test_the_openapi_schema_answers_a_signed_in_browser(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_an_ingest_token_reads_each_dataset_it_lists(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")
    listed = api.get("/api/v1/datasets", **bearer(secret)).json()["items"]
    assert [item["slug"] for item in listed] == [dataset.slug]
    for item in listed:
        one = api.get(f"/api/v1/datasets/{item['slug']}", **bearer(secret))
        assert one.status_code == 200, one.content
        assert one.json()["slug"] == item["slug"] and "conversations" not in one.json()


def test_the_dataset_list_names_the_callers_role_in_each_dataset(
    api, dataset, admin_user, make_token
):
    other = DatasetFactory(name="Other", slug="other")
    MembershipFactory(dataset=other, user=admin_user, role="reviewer")
    listed = api.get("/api/v1/datasets", **bearer(make_token(admin_user, "read"))).json()["items"]
    assert {item["slug"]: item["role"] for item in listed} == {
        "support": "admin",
        "other": "reviewer",
    }
    one = api.get("/api/v1/datasets/support", **bearer(make_token(admin_user, "read"))).json()
    assert one["role"] == "admin" and one["conversations"]["total"] == 0
