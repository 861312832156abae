"""Ingest: production conversations with feedback, validated and deduplicated as file imports."""

from __future__ import annotations

import json

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from curation.models import (
    Conversation,
    ConversationStatus,
    ImportLineError,
    IngestRequest,
    PiiRun,
    QualityRun,
)
from curation.services.imports import create_import_batch, run_import_job
from curation.services.ingest import follow_up_ingests
from tests.api.conftest import item, post_items
from tests.conftest import DATA

pytestmark = pytest.mark.django_db


def test_good_items_are_imported_and_bad_ones_listed_by_index_and_field(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    items = [
        item(1, feedback="down", score=1, comment="wrong answer", trace_id="t-1", model="ft:m1"),
        {"messages": [{"role": "user", "content": "no reply"}]},
        item(2, feedback="sideways"),
        "not an object",
        item(3, feedback="up", metadata={"region": "eu"}, source="web"),
        item(4, score=9),
    ]
    response = post_items(api, dataset.slug, secret, items)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["imported"] == 2 and body["duplicates"] == 0
    errors = {error["index"]: error for error in body["errors"]}
    assert set(errors) == {1, 2, 3, 5}
    assert errors[1]["field"] == "messages" and "assistant" in errors[1]["reason"]
    assert errors[2]["field"] == "feedback"
    assert "not a JSON object" in errors[3]["reason"]
    assert errors[5]["field"] == "score"
    rows = {
        c.metadata.get("trace_id", c.metadata.get("source")): c for c in Conversation.objects.all()
    }
    first = rows["t-1"]
    assert first.status == ConversationStatus.PENDING_PII
    assert first.metadata["feedback"] == "down" and first.metadata["model"] == "ft:m1"
    assert rows["web"].metadata["metadata"] == {"region": "eu"}
    assert first.batch.ingest_request.dataset_id == dataset.pk
    assert ImportLineError.objects.filter(batch=first.batch).count() == 4


@pytest.mark.parametrize("score", [None, "4", True])
def test_a_score_that_is_present_must_be_a_number(api, dataset, admin_user, make_token, score):
    secret = make_token(admin_user, "ingest")
    response = post_items(api, dataset.slug, secret, [item(1, score=score), item(2, score=4)])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["imported"] == 1
    [error] = body["errors"]
    assert error["index"] == 0 and error["field"] == "score"
    assert "when present" in error["reason"]


def test_jsonl_body_is_accepted_and_a_bad_line_is_an_item_error(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    body = json.dumps(item(1)) + "\n{not json\n" + json.dumps(item(2)) + "\n"
    response = post_items(api, dataset.slug, secret, body)
    assert response.status_code == 200
    result = response.json()
    assert result["imported"] == 2
    assert result["errors"] == [
        {
            "index": 1,
            "line": 2,
            "column": 1,
            "field": "",
            "reason": "not valid JSON at line 2, column 2: unexpected character",
        }
    ]
    assert "line 2" in result["errors"][0]["reason"]


def test_malformed_json_array_answers_400_naming_the_position(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")
    response = post_items(api, dataset.slug, secret, '[{"messages": [}]')
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "line 1, column 18" in message and "not closed" in message
    assert not Conversation.objects.exists()


def test_a_repeated_post_counts_duplicates(api, dataset, admin_user, make_token):
    secret = make_token(admin_user, "ingest")
    post_items(api, dataset.slug, secret, [item(1), item(2)])
    again = post_items(api, dataset.slug, secret, [item(1), item(2), item(3), item(3)])
    assert again.json()["imported"] == 1 and again.json()["duplicates"] == 3
    assert Conversation.objects.count() == 3


def test_idempotency_key_replays_the_first_answer_and_imports_nothing_twice(
    api, dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    first = post_items(api, dataset.slug, secret, [item(1), item(2)], HTTP_IDEMPOTENCY_KEY="abc")
    second = post_items(api, dataset.slug, secret, [item(1), item(2)], HTTP_IDEMPOTENCY_KEY="abc")
    assert first.json() == second.json() and second.json()["imported"] == 2
    assert second["Idempotent-Replayed"] == "true"
    assert Conversation.objects.count() == 2
    assert IngestRequest.objects.filter(idempotency_key="abc").count() == 1
    other = post_items(api, dataset.slug, secret, [item(3)], HTTP_IDEMPOTENCY_KEY="abc")
    assert other.status_code == 422
    assert other.json()["error"]["message"] == (
        "this Idempotency-Key was already used for a different request body"
    )
    assert Conversation.objects.count() == 2


def test_a_body_over_the_limit_answers_413_naming_it(
    api, dataset, admin_user, make_token, settings
):
    settings.CURATOR_INGEST_MAX_BYTES = 1000
    secret = make_token(admin_user, "ingest")
    response = post_items(api, dataset.slug, secret, [item(n) for n in range(20)])
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["error"]["message"]
    assert response.json()["error"]["limit"] == 1000
    assert not Conversation.objects.exists()


def test_too_many_items_answer_413(api, dataset, admin_user, make_token, settings):
    settings.CURATOR_INGEST_MAX_ITEMS = 3
    secret = make_token(admin_user, "ingest")
    response = post_items(api, dataset.slug, secret, [item(n) for n in range(4)])
    assert response.status_code == 413 and "limit of 3" in response.json()["error"]["message"]


def test_rate_limit_answers_429_with_retry_after(api, dataset, admin_user, make_token, settings):
    settings.CURATOR_INGEST_RATE_LIMIT = 2
    django_rq.get_connection("default").flushdb()
    secret = make_token(admin_user, "ingest")
    codes = [post_items(api, dataset.slug, secret, [item(n)]).status_code for n in range(2)]
    limited = post_items(api, dataset.slug, secret, [item(9)])
    assert codes == [200, 200]
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 60
    assert Conversation.objects.count() == 2


def test_ingest_reports_the_same_errors_as_a_file_import(
    api, dataset, admin_user, make_token, settings, tmp_path
):
    lines = (DATA / "openai_errors.jsonl").read_bytes()
    batch = create_import_batch(
        dataset=dataset,
        uploaded=SimpleUploadedFile("errors.jsonl", lines),
        original_name="errors.jsonl",
        fmt="openai",
        user=admin_user,
        enqueue=False,
    )
    run_import_job(batch_id=batch.pk)
    file_errors = {(e.line, e.reason) for e in ImportLineError.objects.filter(batch=batch)}
    Conversation.objects.all().delete()
    secret = make_token(admin_user, "ingest")
    response = post_items(api, dataset.slug, secret, lines)
    body = response.json()

    # Parse errors are worded for a body rather than a file; every validation reason is the
    # file import's own.
    def validation(reasons: set[str]) -> set[str]:
        return {reason for reason in reasons if "JSON" not in reason and "UTF-8" not in reason}

    assert validation({e["reason"] for e in body["errors"]}) == validation(
        {reason for _, reason in file_errors}
    )
    assert len(body["errors"]) == len(file_errors)
    batch.refresh_from_db()
    assert body["imported"] == batch.imported


def test_requests_share_one_follow_up_job_that_covers_each_batch(
    api, dataset, admin_user, make_token, django_capture_on_commit_callbacks
):
    queue = django_rq.get_queue("default")
    queue.empty()
    secret = make_token(admin_user, "ingest")
    with django_capture_on_commit_callbacks(execute=True):
        post_items(api, dataset.slug, secret, [item(1)])
        post_items(api, dataset.slug, secret, [item(2), item(3)])
    assert queue.count == 1
    assert follow_up_ingests(dataset_id=dataset.pk) == 2
    assert QualityRun.objects.filter(dataset=dataset, batch__isnull=False).count() == 2
    assert PiiRun.objects.filter(dataset=dataset).count() == 1
    assert follow_up_ingests(dataset_id=dataset.pk) == 0
    with django_capture_on_commit_callbacks(execute=True):
        post_items(api, dataset.slug, secret, [item(4)])
    assert queue.count == 2  # the flag went with the follow-up that ran
