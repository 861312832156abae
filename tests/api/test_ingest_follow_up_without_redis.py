"""When Redis cannot take an ingest's follow-up job, the follow-up (quality signals, PII
detection) is started within the request instead, so nothing ingested skips detection.

mutmut's run over curation/services/ingest.py found this path untested: a broken inline call
survived every test (docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import django_rq
import pytest
import redis

from curation.models import ImportBatch, PiiRun, QualityRun
from tests.api.conftest import item, post_items
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


def test_a_follow_up_redis_refuses_runs_within_the_request(
    api, dataset, admin_user, make_token, monkeypatch
):
    secret = make_token(admin_user, "ingest")
    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    # Only the follow-up's connection: the request itself needs no Redis before it.
    monkeypatch.setattr(django_rq, "get_connection", lambda *args, **kwargs: dead)

    response = post_items(api, dataset.slug, secret, [item(1), item(2)])

    assert response.status_code == 200, response.content
    batch = ImportBatch.objects.get(pk=response.json()["batch"])
    assert batch.imported == 2
    assert QualityRun.objects.filter(dataset=dataset, batch=batch).count() == 1
    assert PiiRun.objects.filter(dataset=dataset).count() == 1
