"""With Redis down, the page after an upload, a detection rerun or a Retry says the work was
not started and why; it never flashes "queued" for a row that has already failed."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from curation.models import ConversationStatus, ImportBatch, JobStatus
from tests.conftest import DATA
from tests.curation.test_enqueue_failures import redis_down  # noqa: F401 (the fixture)
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def flashed(response) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def test_an_upload_with_redis_down_says_it_was_not_started(
    dataset,
    admin_user,
    client_for,
    redis_down,  # noqa: F811
):
    upload = SimpleUploadedFile("ok.jsonl", (DATA / "openai_ok.jsonl").read_bytes())
    response = client_for(admin_user).post(
        reverse("import_list", args=[dataset.slug]), {"files": [upload], "format": "auto"}
    )
    [(level, text)] = flashed(response)
    assert level == "error" and text.startswith("Not started: could not be queued")
    assert "background" not in text


def test_a_retry_with_redis_still_down_says_it_was_not_started(
    dataset,
    admin_user,
    client_for,
    redis_down,  # noqa: F811
):
    upload = SimpleUploadedFile("ok.jsonl", (DATA / "openai_ok.jsonl").read_bytes())
    client = client_for(admin_user)
    client.post(
        reverse("import_list", args=[dataset.slug]),
        {"files": [upload], "format": "auto"},
        follow=True,  # the upload's own message is shown and gone
    )
    batch = ImportBatch.objects.get(dataset=dataset)
    assert batch.status == JobStatus.FAILED
    response = client.post(reverse("import_retry", args=[dataset.slug, batch.pk]))
    assert [level for level, _ in flashed(response)] == ["error"]
    assert "Retrying" not in flashed(response)[0][1]


def test_a_detection_rerun_with_redis_down_says_it_was_not_started(
    dataset,
    admin_user,
    client_for,
    redis_down,  # noqa: F811
):
    ConversationFactory.create_batch(2, dataset=dataset, status=ConversationStatus.IN_REVIEW)
    response = client_for(admin_user).post(reverse("pii_rerun", args=[dataset.slug]))
    [(level, text)] = flashed(response)
    assert level == "error" and "could not be queued" in text
