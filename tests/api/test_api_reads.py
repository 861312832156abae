"""Reading through the API: datasets, versions and files, conversations (redacted), imports,
jobs, evaluation runs, models; and the OpenAPI schema."""

from __future__ import annotations

import pytest

from curation.models import ConversationStatus
from tests.api.conftest import bearer
from tests.factories import (
    ConversationFactory,
    FineTuneJobFactory,
    PiiFindingFactory,
    built_version,
    chat,
)

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_lists_the_endpoints(api, admin_user, make_token):
    schema = api.get("/api/v1/openapi.json", **bearer(make_token(admin_user, "ingest"))).json()
    paths = schema["paths"]
    for path in (
        "/api/v1/datasets",
        "/api/v1/datasets/{slug}/versions/{number}",
        "/api/v1/datasets/{slug}/conversations",
        "/api/v1/datasets/{slug}/imports",
        "/api/v1/datasets/{slug}/evaluation-runs",
        "/api/v1/datasets/{slug}/models",
        "/api/v1/datasets/{slug}/jobs",
        "/api/v1/datasets/{slug}/production-model",
    ):
        assert path in paths, path
    assert "Idempotency-Key" in str(paths["/api/v1/datasets/{slug}/conversations"]["post"])
    assert schema["components"]["securitySchemes"]


def test_datasets_and_versions_with_file_hashes(api, dataset, reviewer, make_token, outsider):
    version = built_version(dataset)
    secret = make_token(reviewer, "read")
    listed = api.get("/api/v1/datasets", **bearer(secret)).json()["items"]
    assert [d["slug"] for d in listed] == [dataset.slug]
    detail = api.get(f"/api/v1/datasets/{dataset.slug}/versions/{version.number}", **bearer(secret))
    files = detail.json()["files"]
    assert files["train.jsonl"]["sha256"] == version.files["train.jsonl"]["sha256"]
    download = api.get(files["train.jsonl"]["url"], **bearer(secret))
    assert download.status_code == 200
    assert (
        api.get(f"/api/v1/datasets/{dataset.slug}/versions/99", **bearer(secret)).status_code == 404
    )


def test_conversations_leave_redacted_and_pending_ones_without_text(
    api, dataset, reviewer, make_token
):
    shown = ConversationFactory(
        dataset=dataset, original=chat(user="I am Alice Smith", assistant="Hello Alice")
    )
    PiiFindingFactory(conversation=shown, message_index=1, start=5, end=16, entity_type="PERSON")
    ConversationFactory(dataset=dataset, status=ConversationStatus.PENDING_PII)
    secret = make_token(reviewer, "read")
    items = api.get(f"/api/v1/datasets/{dataset.slug}/conversations", **bearer(secret)).json()[
        "items"
    ]
    by_status = {item["status"]: item for item in items}
    assert by_status[ConversationStatus.PENDING_PII]["messages"] is None
    text = str(by_status[ConversationStatus.IN_REVIEW]["messages"])
    assert "Alice Smith" not in text
    one = api.get(f"/api/v1/datasets/{dataset.slug}/conversations/{shown.pk}", **bearer(secret))
    assert one.json()["id"] == shown.pk


def test_paging_by_after(api, dataset, reviewer, make_token):
    for _ in range(5):
        ConversationFactory(dataset=dataset)
    secret = make_token(reviewer, "read")
    url = f"/api/v1/datasets/{dataset.slug}/conversations"
    first = api.get(url, {"limit": 3}, **bearer(secret)).json()
    second = api.get(url, {"limit": 3, "after": first["next_after"]}, **bearer(secret)).json()
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert len(ids) == 5 == len(set(ids)) and ids == sorted(ids, reverse=True)


def test_jobs_runs_models_and_imports_are_listed(api, dataset, admin_user, make_token):
    job = FineTuneJobFactory(dataset=dataset)
    secret = make_token(admin_user, "admin")
    jobs = api.get(f"/api/v1/datasets/{dataset.slug}/jobs", **bearer(secret)).json()["items"]
    assert jobs[0]["id"] == job.pk and jobs[0]["hyperparameters"]
    assert (
        api.get(f"/api/v1/datasets/{dataset.slug}/jobs/{job.pk}", **bearer(secret)).status_code
        == 200
    )
    for path in ("evaluation-runs", "models", "imports"):
        response = api.get(f"/api/v1/datasets/{dataset.slug}/{path}", **bearer(secret))
        assert response.status_code == 200 and "items" in response.json()
