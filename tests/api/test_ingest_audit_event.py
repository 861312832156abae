"""Each ingest leaves one audit event (the dataset's audit log): who posted it, with which
token (its prefix, never the secret), into which batch, the counts of its answer and its
Idempotency-Key; a replay adds none.

mutmut's run over curation/services/ingest.py found every field of the event untested
(docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import pytest

from curation.models import AccessToken, AuditEvent
from tests.api.conftest import item, post_items

pytestmark = pytest.mark.django_db


def test_an_ingest_is_audited_once_with_its_poster_token_batch_counts_and_key(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    items = [item(1), item(1), item(2, score=9), item(3)]
    first = post_items(api, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="k-1")
    post_items(api, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="k-1")
    post_items(api, dataset.slug, secret, [item(4)])

    keyed, unkeyed = AuditEvent.objects.filter(action="import.ingest").order_by("pk")

    assert (keyed.actor, keyed.dataset) == (admin_user, dataset)
    assert (keyed.object_type, keyed.object_id) == ("importbatch", str(first.json()["batch"]))
    assert keyed.details == {
        "token": AccessToken.objects.get().prefix,
        "imported": 2,
        "duplicates": 1,
        "invalid": 1,
        "idempotency_key": "k-1",
    }
    assert unkeyed.details["idempotency_key"] is None and unkeyed.details["imported"] == 1
