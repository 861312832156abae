"""The API's dataset JSON carries the default region and languages detection reads."""

from __future__ import annotations

import pytest

from curation.models import AuditEvent, Dataset, Membership, Role
from tests.api.conftest import bearer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_api_shows_region_and_languages(api, dataset, reviewer, make_token):
    Dataset.objects.filter(pk=dataset.pk).update(region="IN", languages=["en", "hi"])
    secret = make_token(reviewer, "read")

    data = api.get(f"/api/v1/datasets/{dataset.slug}", **bearer(secret)).json()

    assert (data["region"], data["languages"]) == ("IN", ["en", "hi"])


def test_a_dataset_admin_sets_region_and_languages(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "admin")

    response = api.patch(
        f"/api/v1/datasets/{dataset.slug}",
        data={"region": "in", "languages": ["en", "hi", "zh"]},
        content_type="application/json",
        **bearer(secret),
    )

    assert response.status_code == 200
    assert (response.json()["region"], response.json()["languages"]) == ("IN", ["en", "hi", "zh"])
    dataset.refresh_from_db()
    assert (dataset.region, dataset.languages) == ("IN", ["en", "hi", "zh"])
    event = AuditEvent.objects.filter(action="pii.settings", dataset=dataset).get()
    assert event.actor == admin_user


def test_an_unknown_region_or_language_is_refused_and_nothing_changes(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "admin")

    response = api.patch(
        f"/api/v1/datasets/{dataset.slug}",
        data={"region": "XX", "languages": ["klingon"]},
        content_type="application/json",
        **bearer(secret),
    )

    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"region", "languages"}
    dataset.refresh_from_db()
    assert (dataset.region, dataset.languages) == ("", [])


@pytest.mark.parametrize(("who", "scope"), [("reviewer", "admin"), ("admin_user", "read")])
def test_only_an_admin_token_of_a_dataset_admin_changes_the_settings(
    who, scope, api, dataset, request, make_token
):
    secret = make_token(request.getfixturevalue(who), scope)

    response = api.patch(
        f"/api/v1/datasets/{dataset.slug}",
        data={"region": "IN"},
        content_type="application/json",
        **bearer(secret),
    )

    assert response.status_code == 403
    dataset.refresh_from_db()
    assert dataset.region == ""


def test_staff_create_a_dataset_with_region_and_languages(api, db, make_token):
    staff = UserFactory(username="staff", is_staff=True)
    secret = make_token(staff, "admin")

    response = api.post(
        "/api/v1/datasets",
        data={"name": "Hinglish support", "region": "IN", "languages": ["en", "hi"]},
        content_type="application/json",
        **bearer(secret),
    )

    assert response.status_code == 201
    created = Dataset.objects.get(slug="hinglish-support")
    assert (created.region, created.languages) == ("IN", ["en", "hi"])
    assert Membership.objects.filter(dataset=created, user=staff, role=Role.ADMIN).exists()


def test_a_user_who_may_not_create_datasets_gets_403(api, db, make_token):
    secret = make_token(UserFactory(username="plain"), "admin")

    response = api.post(
        "/api/v1/datasets",
        data={"name": "Mine", "region": "IN"},
        content_type="application/json",
        **bearer(secret),
    )

    assert response.status_code == 403
    assert not Dataset.objects.filter(slug="mine").exists()
