"""The API's dataset JSON carries the default region and languages detection reads."""

from __future__ import annotations

import pytest

from curation.models import Dataset
from tests.api.conftest import bearer

pytestmark = pytest.mark.django_db


def test_the_api_shows_region_and_languages(api, dataset, reviewer, make_token):
    Dataset.objects.filter(pk=dataset.pk).update(region="IN", languages=["en", "hi"])
    secret = make_token(reviewer, "read")

    data = api.get(f"/api/v1/datasets/{dataset.slug}", **bearer(secret)).json()

    assert (data["region"], data["languages"]) == ("IN", ["en", "hi"])
