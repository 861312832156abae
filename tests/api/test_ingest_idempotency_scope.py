"""An Idempotency-Key belongs to its dataset (docs/api.md): a retry gets back the answer of its
own request, whatever other keys the dataset holds and whichever other dataset used the same key.

mutmut's run over curation/services/ingest.py found the look-up of the earlier request by
dataset and key untested (docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import pytest

from curation.models import Conversation, Role
from tests.api.conftest import item, post_items
from tests.factories import DatasetFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_a_retry_replays_its_own_answer_among_other_keys_and_datasets(
    api, dataset, admin_user, make_token
):
    other = DatasetFactory(name="Billing", slug="billing")
    MembershipFactory(dataset=other, user=admin_user, role=Role.ADMIN)
    secret = make_token(admin_user, "ingest")
    first = post_items(api, dataset.slug, secret, [item(1)], HTTP_IDEMPOTENCY_KEY="k-1")
    second = post_items(api, dataset.slug, secret, [item(2), item(3)], HTTP_IDEMPOTENCY_KEY="k-2")
    # The same key in another dataset is another request, with its own body.
    elsewhere = post_items(api, other.slug, secret, [item(4)], HTTP_IDEMPOTENCY_KEY="k-1")
    assert [r.status_code for r in (first, second, elsewhere)] == [200, 200, 200]
    assert elsewhere.json()["imported"] == 1

    retries = [
        post_items(api, dataset.slug, secret, [item(1)], HTTP_IDEMPOTENCY_KEY="k-1"),
        post_items(api, dataset.slug, secret, [item(2), item(3)], HTTP_IDEMPOTENCY_KEY="k-2"),
        post_items(api, other.slug, secret, [item(4)], HTTP_IDEMPOTENCY_KEY="k-1"),
    ]

    assert [r.json() for r in retries] == [r.json() for r in (first, second, elsewhere)]
    assert all(r["Idempotent-Replayed"] == "true" for r in retries)
    assert Conversation.objects.filter(dataset=dataset).count() == 3
    assert Conversation.objects.filter(dataset=other).count() == 1
