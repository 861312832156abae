"""Ingested feedback as a filter, on the review page and the dashboard; the drift page's
novelty, distributions and warnings."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from curation.models import Conversation, ConversationStatus
from training.registry.drift import drift_report
from training.registry.promotion import promote_model
from training.registry.stages import RegistrySettings

pytestmark = pytest.mark.django_db


def ingest(dataset, secret: str, items: list[dict]) -> None:
    response = Client().post(
        f"/api/v1/datasets/{dataset.slug}/conversations",
        data=json.dumps(items),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200, response.content


def production_item(text: str, **extra) -> dict:
    return {
        "messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": "Here is what I found."},
        ],
        **extra,
    }


@pytest.fixture
def feedback_rows(dataset, admin_user, token_for):
    ingest(
        dataset,
        token_for(admin_user, "ingest"),
        [
            production_item(
                "Refund my <script>alert(1)</script> order",
                feedback="down",
                comment="<b>useless</b>",
            ),
            production_item("Where is my parcel", score=2),
            production_item("Thanks, that worked", feedback="up", score=5),
            production_item("Just a question"),
        ],
    )
    Conversation.objects.update(status=ConversationStatus.IN_REVIEW)


def test_feedback_filters_the_conversation_list(dataset, feedback_rows, client_for, reviewer):
    client = client_for(reviewer)

    def listed(value: str) -> int:
        page = client.get(reverse("conversation_list", args=[dataset.slug]), {"feedback": value})
        return len(page.context["page"])

    assert (
        listed("down"),
        listed("low_score"),
        listed("negative"),
        listed("up"),
        listed("rated"),
    ) == (1, 1, 2, 1, 3)
    assert listed("") == 4


def test_the_review_page_shows_the_feedback_escaped(dataset, feedback_rows, client_for, reviewer):
    conversation = Conversation.objects.get(metadata__feedback="down")
    page = client_for(reviewer).get(
        reverse("review_conversation", args=[dataset.slug, conversation.pk])
    )
    assert b"Production feedback" in page.content and b"thumbs down" in page.content
    assert b"&lt;b&gt;useless&lt;/b&gt;" in page.content and b"<b>useless</b>" not in page.content


def test_the_dashboard_counts_feedback(dataset, feedback_rows, client_for, reviewer):
    page = client_for(reviewer).get(reverse("dataset_detail", args=[dataset.slug]))
    assert b"4 ingested conversations: 3 rated" in page.content
    assert b"1 thumbs down" in page.content and b"1 with a score" in page.content


def test_drift_measures_novelty_against_the_training_version_and_warns(
    dataset, make_model, admin_user, token_for, client_for
):
    model = make_model("ft:prod")  # trained on built_version: "What is the total of invoice N?"
    promote_model(dataset=dataset, model=model, user=admin_user)
    RegistrySettings.objects.create(
        dataset=dataset, novelty_threshold=0.3, negative_feedback_threshold=0.2, drift_min_sample=5
    )
    seen = [production_item(f"What is the total of invoice {n}?", feedback="up") for n in range(3)]
    novel = [
        production_item(
            f"Can you translate poem number {n} into Klingon for my wedding?", feedback="down"
        )
        for n in range(3)
    ]
    ingest(dataset, token_for(admin_user, "ingest"), seen + novel)
    report = drift_report(dataset)
    assert report["recent"] == 6 and report["training"] == 12
    assert report["novelty"] == pytest.approx(0.5)
    assert report["negative_rate"] == pytest.approx(0.5)
    assert len([w for w in report["warnings"] if "PSI" not in w]) == 2
    assert sum(report["turns"]["production"]) == pytest.approx(1.0)
    page = client_for(admin_user).get(reverse("registry_drift", args=[dataset.slug]))
    assert b"novel prompts" in page.content and b'data-chart="tokens-data"' in page.content
    dashboard = client_for(admin_user).get(reverse("dataset_detail", args=[dataset.slug]))
    assert b"have no near-duplicate in the training data" in dashboard.content
