"""Idempotency-Keys (docs/api.md): a retry gets back the answer of its own request, status
included, whatever other keys the dataset holds and whichever other dataset used the same key;
while the first request has no answer yet a retry is told so (409), and one whose process
died without answering is taken over after 15 minutes.

mutmut's run over curation/services/ingest.py found the look-up of the earlier request by
dataset and key, the replayed status, the 409 and the take-over untested (docs/development.md,
"Mutation testing").
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from curation.models import AccessToken, Conversation, IngestRequest, Role
from curation.services.ingest import STALE_AFTER
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


def test_a_retry_of_a_refused_request_replays_its_422(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")
    first = post_items(api, dataset.slug, secret, [item(1, score=9)], HTTP_IDEMPOTENCY_KEY="k-1")

    retry = post_items(api, dataset.slug, secret, [item(1, score=9)], HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, retry.status_code) == (422, 422)
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"


def unanswered_request(dataset, items, *, key: str, age: timedelta) -> IngestRequest:
    """The row a first request leaves while it runs, or after its process died: the key and
    body digest, no answer."""
    row = IngestRequest.objects.create(
        dataset=dataset,
        token=AccessToken.objects.get(),
        idempotency_key=key,
        body_sha256=hashlib.sha256(json.dumps(items).encode()).hexdigest(),
    )
    IngestRequest.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)
    return row


def test_a_retry_while_the_first_request_runs_answers_409_and_imports_nothing(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    items = [item(1)]
    unanswered_request(dataset, items, key="k-1", age=STALE_AFTER - timedelta(minutes=1))

    retry = post_items(api, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="k-1")

    assert retry.status_code == 409
    assert retry.json()["error"]["message"] == (
        "a request with this Idempotency-Key is still being processed"
    )
    assert not Conversation.objects.exists()


def test_a_request_unanswered_for_15_minutes_is_taken_over_by_its_retry(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    items = [item(1), item(2)]
    row = unanswered_request(dataset, items, key="k-1", age=STALE_AFTER + timedelta(minutes=1))

    retry = post_items(api, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="k-1")

    assert retry.status_code == 200, retry.content
    assert retry.json()["imported"] == 2
    row.refresh_from_db()
    assert row.response == retry.json() and row.batch_id == retry.json()["batch"]


def test_a_key_longer_than_200_characters_is_used_by_its_first_200(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    key = "k" * 250

    first = post_items(api, dataset.slug, secret, [item(1)], HTTP_IDEMPOTENCY_KEY=key)
    retry = post_items(api, dataset.slug, secret, [item(1)], HTTP_IDEMPOTENCY_KEY=key)

    assert first.status_code == 200, first.content
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"
    assert IngestRequest.objects.get().idempotency_key == key[:200]
