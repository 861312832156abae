"""Ingested conversations go through PII detection on real workers into the review queue,
like imported ones."""

from __future__ import annotations

import pytest

from curation.models import Conversation, ConversationStatus, PiiFinding
from tests.api.conftest import item, post_items

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_ingested_conversations_reach_the_review_queue(
    api, dataset, admin_user, make_token, run_worker
):
    secret = make_token(admin_user, "ingest")
    items = [item(1, feedback="down"), item(2)]
    items[1]["messages"][1]["content"] = "Please email me at jane.doe@example.com about order 2"
    assert post_items(api, dataset.slug, secret, items).json()["imported"] == 2
    assert set(Conversation.objects.values_list("status", flat=True)) == {
        ConversationStatus.PENDING_PII
    }
    # One burst worker: it takes the jobs each job queues (the detection planner's chunks)
    # until both queues are empty.
    run_worker("default", "pii")
    statuses = set(Conversation.objects.values_list("status", flat=True))
    assert statuses == {ConversationStatus.IN_REVIEW}
    assert PiiFinding.objects.filter(entity_type="EMAIL_ADDRESS").exists()
