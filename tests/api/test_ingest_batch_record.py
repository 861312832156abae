"""An ingest is recorded as an import batch like a file's (docs/api.md: imported exactly as a
file would be): posted by the token's user, named by its time, in the OpenAI format, holding
the exact body it was given, finished with its counts.

mutmut's run over curation/services/ingest.py found every field of the batch untested
(docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from curation.models import ImportBatch, JobStatus
from tests.api.conftest import item, post_items

pytestmark = pytest.mark.django_db


def test_an_ingest_is_a_finished_batch_of_the_tokens_user_holding_the_exact_body(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    body = json.dumps([item(1), item(2), "text"]).encode()

    response = post_items(api, dataset.slug, secret, body)

    batch = ImportBatch.objects.get(pk=response.json()["batch"])
    assert batch.dataset == dataset and batch.created_by == admin_user
    assert re.fullmatch(r"api-ingest-\d{8}T\d{6}\.json", batch.original_name)
    assert (batch.format, batch.detected_format) == ("openai", "openai")
    assert (batch.size, batch.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert batch.file.name.startswith(f"imports/{dataset.pk}/api-ingest-")
    with batch.file.open("rb") as stored:
        assert stored.read() == body
    assert (batch.status, batch.attempts, batch.done, batch.total) == (
        JobStatus.SUCCEEDED,
        1,
        len(body),
        len(body),
    )
    assert batch.started_at <= batch.finished_at
    assert (batch.imported, batch.invalid) == (2, 1)
