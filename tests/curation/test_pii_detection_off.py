"""A dataset with PII detection off: its conversations go straight to review, every page
says so, and the CLI can create such a dataset."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from curation.models import Conversation, ConversationStatus, Dataset, PiiRun
from curation.services.pii.runs import start_detection
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

LINES = [
    {
        "messages": [
            {"role": "user", "content": f"Question {n}?"},
            {"role": "assistant", "content": "Yes."},
        ]
    }
    for n in range(3)
]


def write(tmp_path: Path) -> Path:
    path = tmp_path / "plain.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in LINES), encoding="utf-8")
    return path


def test_import_with_pii_off_sends_conversations_straight_to_review(tmp_path):
    out = StringIO()

    call_command(
        "import_conversations",
        "--dataset",
        "faq",
        "--create",
        "--pii",
        "off",
        "--json",
        str(write(tmp_path)),
        stdout=out,
    )

    dataset = Dataset.objects.get(slug="faq")
    assert dataset.pii_detection is False
    statuses = set(Conversation.objects.values_list("status", flat=True))
    assert statuses == {ConversationStatus.IN_REVIEW}
    assert not PiiRun.objects.exists()


def test_import_with_pii_on_by_default_waits_for_detection(tmp_path, monkeypatch):
    import django_rq

    monkeypatch.setattr("curation.models.jobs.Job.enqueue", lambda self: None)
    monkeypatch.setattr(django_rq.queues.DjangoRQ, "enqueue", lambda *a, **k: None)

    call_command("import_conversations", "--dataset", "faq", "--create", str(write(tmp_path)))

    assert Dataset.objects.get(slug="faq").pii_detection is True
    assert PiiRun.objects.count() == 1


def test_every_dataset_page_says_detection_is_off(dataset, admin_user, client_for):
    Dataset.objects.filter(pk=dataset.pk).update(pii_detection=False)
    client = client_for(admin_user)

    for name in ("dataset_detail", "conversation_list", "pii_overview", "version_list"):
        page = client.get(reverse(name, args=[dataset.slug])).content.decode()
        assert "PII detection is off for this dataset" in page, name


def test_pages_of_a_dataset_with_detection_on_say_nothing(dataset, admin_user, client_for):
    page = client_for(admin_user).get(reverse("dataset_detail", args=[dataset.slug]))

    assert b"PII detection is off" not in page.content


def test_turning_detection_off_in_settings_sends_waiting_conversations_to_review(
    dataset, admin_user, client_for
):
    waiting = ConversationFactory(dataset=dataset, status=ConversationStatus.PENDING_PII)
    url = reverse("pii_settings", args=[dataset.slug])

    response = client_for(admin_user).post(
        url, {"pii_entities": ["PERSON"], "pii_threshold": "0.4", "pii_operator": "tag"}
    )

    assert response.status_code == 302
    dataset.refresh_from_db()
    waiting.refresh_from_db()
    assert dataset.pii_detection is False
    assert waiting.status == ConversationStatus.IN_REVIEW
    assert start_detection(dataset=dataset) is None
