"""A request of more conversations than one import chunk (CURATOR_IMPORT_BATCH_SIZE) is written
chunk by chunk, committed as it goes, and answers exactly as a request of one chunk does: the
same counts and errors, one batch marked as ingested, the same replay for its key.

mutmut's run over curation/services/ingest.py found this path run by no test
(docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import pytest

from curation.models import Conversation, ImportBatch, IngestRequest, JobStatus
from tests.api.conftest import item, post_items

# The chunk writer writes on a second connection, which sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_request_of_several_chunks_answers_like_one_and_replays_for_its_key(
    api, dataset, admin_user, make_token, settings
):
    settings.CURATOR_IMPORT_BATCH_SIZE = 2
    secret = make_token(admin_user, "ingest")
    items = [item(1), item(2), item(3, score=9), item(4), item(1), item(5)]

    response = post_items(api, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="big-1")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["imported"], body["duplicates"]) == (4, 1)
    assert [(error["index"], error["field"]) for error in body["errors"]] == [(2, "score")]
    batch = ImportBatch.objects.get(pk=body["batch"])
    assert batch.status == JobStatus.SUCCEEDED and batch.imported == 4
    assert IngestRequest.objects.get(idempotency_key="big-1").batch == batch
    assert set(Conversation.objects.values_list("batch_id", flat=True)) == {batch.pk}

    retry = post_items(api, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="big-1")

    assert retry.json() == body and retry["Idempotent-Replayed"] == "true"
    assert Conversation.objects.count() == 4
