"""The token page lets a user choose the scope and restrict the token to one dataset."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import AccessToken
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def test_a_scoped_dataset_token_is_made_and_listed(dataset, admin_user, client_for):
    client = client_for(admin_user)
    page = client.post(
        reverse("token_list"),
        {"name": "serving", "days": "30", "scope": "ingest", "dataset": str(dataset.pk)},
    )
    token = AccessToken.objects.get(user=admin_user)
    assert (token.scope, token.dataset) == ("ingest", dataset)
    assert b"ingest \xc2\xb7 support" in client.get(reverse("token_list")).content
    assert page.context["new_secret"].startswith("cur_")


def test_a_dataset_the_user_is_not_in_cannot_be_chosen(dataset, reviewer, client_for):
    other = DatasetFactory(slug="not-mine")
    page = client_for(reviewer).post(
        reverse("token_list"), {"name": "x", "scope": "read", "dataset": str(other.pk)}
    )
    assert page.status_code == 200 and "dataset" in page.context["form"].errors
    assert not AccessToken.objects.exists()


def test_without_a_scope_a_token_reads(dataset, reviewer, client_for):
    client_for(reviewer).post(reverse("token_list"), {"name": "legacy form"})
    assert AccessToken.objects.get(user=reviewer).scope == "read"
