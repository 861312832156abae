"""The member form tells a dataset admin nothing about accounts they cannot add: a missing,
an inactive and a staff account get the same answer."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from curation.models import Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def error_for(client, url: str, username: str) -> str:  # type: ignore[no-untyped-def]
    response = client.post(url, {"username": username, "role": "reviewer"})
    assert response.status_code == 200
    [error] = re.findall(
        r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(), re.S
    )
    return error.replace(username, "NAME")


def test_missing_inactive_and_staff_accounts_get_the_same_answer(client_for, dataset, admin_user):
    UserFactory(username="gone", is_active=False)
    UserFactory(username="boss", is_staff=True)
    url = reverse("dataset_members", args=[dataset.slug])
    client = client_for(admin_user)
    answers = {name: error_for(client, url, name) for name in ("ghost", "gone", "boss")}
    assert len(set(answers.values())) == 1, answers
    assert "staff account" not in answers["boss"].split(".")[0]
    assert not Membership.objects.filter(dataset=dataset, user__username="boss").exists()


def test_site_staff_can_add_a_staff_account(client_for, dataset, admin_user):
    UserFactory(username="boss", is_staff=True)
    staff = UserFactory(username="operator", is_staff=True)
    Membership.objects.create(dataset=dataset, user=staff, role="admin")
    url = reverse("dataset_members", args=[dataset.slug])
    response = client_for(staff).post(url, {"username": "boss", "role": "reviewer"})
    assert response.status_code == 302
    assert Membership.objects.filter(dataset=dataset, user__username="boss").exists()
