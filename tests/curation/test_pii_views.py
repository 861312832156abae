"""PII correction where reviewers work: whole highlights toggle, the review page acts on
findings (htmx and plain form posts), the overview shows the dataset and every run."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import (
    AuditEvent,
    ConversationStatus,
    FindingDecision,
    JobStatus,
    PiiFinding,
    PiiRun,
)
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def conversation(dataset):  # type: ignore[no-untyped-def]
    return ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.IN_REVIEW,
        original=[
            {"role": "user", "content": "Write to ann@example.com or ANN@example.com"},
            {"role": "assistant", "content": "ok"},
        ],
    )


@pytest.fixture
def findings(conversation):  # type: ignore[no-untyped-def]
    return [
        PiiFinding.objects.create(
            conversation=conversation,
            message_index=0,
            start=start,
            end=start + 15,
            entity_type="EMAIL_ADDRESS",
            score=1.0,
        )
        for start in (9, 28)
    ]


def test_the_whole_highlight_is_the_toggle_and_a_kept_one_does_not_read_like_delete(
    dataset, conversation, findings, reviewer, client_for
):
    client = client_for(reviewer)
    url = reverse("finding_decide", args=[dataset.slug, conversation.pk, findings[0].pk])
    page = client.get(conversation.get_absolute_url()).content.decode()
    assert f'formaction="{url}"' in page
    # The value itself sits inside the button, not only the small label.
    assert (
        'class="pii-mark"' in page and 'data-label="EMAIL_ADDRESS">ann@example.com</button>' in page
    )

    toggled = client.post(url, headers=HTMX).content.decode()

    assert "kept · EMAIL_ADDRESS" in toggled and "✕" not in toggled
    # One decision covers the same value written in another case.
    assert set(PiiFinding.objects.values_list("decision", flat=True)) == {FindingDecision.KEEP}
    assert "2 findings: 0 redacted, 2 kept" in toggled


def test_redacting_selected_text_clears_the_form_and_updates_the_counts(
    dataset, conversation, reviewer, client_for
):
    client = client_for(reviewer)

    response = client.post(
        reverse("finding_add", args=[dataset.slug, conversation.pk]),
        {"text": "Write", "entity_type": "PERSON"},
        headers=HTMX,
    ).content.decode()

    assert 'id="chat-panel"' in response
    assert 'id="add-finding" hx-swap-oob="true"' in response
    assert 'name="text" required value=""' in response
    assert '<span id="pii-count" hx-swap-oob="true">1 finding</span>' in response


def test_a_failed_redaction_keeps_the_typed_text_in_place(
    dataset, conversation, reviewer, client_for
):
    response = client_for(reviewer).post(
        reverse("finding_add", args=[dataset.slug, conversation.pk]),
        {"text": "Zed", "entity_type": "PERSON"},
        headers=HTMX,
    )

    assert b"does not occur" in response.content
    assert b"hx-swap-oob" not in response.content


def test_review_page_highlights_keep_and_redact_with_htmx(
    dataset, conversation, findings, reviewer, client_for
):
    client = client_for(reviewer)
    url = reverse("review_finding_decide", args=[dataset.slug, conversation.pk, findings[1].pk])
    page = client.get(reverse("review_conversation", args=[dataset.slug, conversation.pk]))
    assert f'formaction="{url}"'.encode() in page.content
    assert b'id="pii-review-form"' in page.content

    kept = client.post(url, {"decision": "keep"}, headers=HTMX).content.decode()

    assert 'id="review-chat"' in kept and "<html" not in kept
    assert "kept · EMAIL_ADDRESS" in kept
    redacted = client.post(url, {"decision": "redact"}, headers=HTMX).content.decode()
    assert "kept ·" not in redacted
    assert AuditEvent.objects.filter(action="pii.decision").count() == 2


def test_review_page_decisions_work_without_javascript(
    dataset, conversation, findings, reviewer, client_for
):
    url = reverse("review_finding_decide", args=[dataset.slug, conversation.pk, findings[0].pk])

    response = client_for(reviewer).post(url, {"decision": "keep"})

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "review_conversation", args=[dataset.slug, conversation.pk]
    )
    findings[0].refresh_from_db()
    assert findings[0].decision == FindingDecision.KEEP


def test_review_page_refuses_to_keep_pii_in_an_approved_conversation(
    dataset, conversation, findings, reviewer, client_for
):
    conversation.status = ConversationStatus.APPROVED
    conversation.save(update_fields=["status"])
    url = reverse("review_finding_decide", args=[dataset.slug, conversation.pk, findings[0].pk])

    response = client_for(reviewer).post(url, {"decision": "keep"}, headers=HTMX)

    assert b"already approved" in response.content
    assert not PiiFinding.objects.filter(decision=FindingDecision.KEEP).exists()


@pytest.mark.parametrize(
    ("who", "status"), [("admin", 302), ("reviewer", 302), ("outsider", 404), ("anonymous", 302)]
)
def test_review_finding_decide_permissions(
    who, status, dataset, conversation, findings, admin_user, reviewer, outsider, client_for
):
    user = {"admin": admin_user, "reviewer": reviewer, "outsider": outsider, "anonymous": None}
    url = reverse("review_finding_decide", args=[dataset.slug, conversation.pk, findings[0].pk])

    response = client_for(user[who]).post(url, {"decision": "keep"})

    assert response.status_code == status
    if who == "anonymous":
        assert "/login" in response["Location"] or "login" in response["Location"]
    changed = PiiFinding.objects.filter(decision=FindingDecision.KEEP).exists()
    assert changed == (who in ("admin", "reviewer"))


def test_review_finding_decide_needs_post_and_a_finding_of_that_conversation(
    dataset, conversation, findings, reviewer, client_for
):
    client = client_for(reviewer)
    other = ConversationFactory(dataset=dataset)
    url = reverse("review_finding_decide", args=[dataset.slug, other.pk, findings[0].pk])

    assert client.post(url, {"decision": "keep"}).status_code == 404
    assert client.get(url).status_code == 405


def test_overview_shows_the_dataset_state_and_every_run(
    dataset, conversation, findings, reviewer, client_for
):
    ConversationFactory(dataset=dataset, status=ConversationStatus.PENDING_PII)
    PiiRun.objects.create(
        dataset=dataset, status=JobStatus.FAILED, total=3, done=1, error="detection failed: boom"
    )
    PiiRun.objects.create(dataset=dataset, status=JobStatus.SUCCEEDED, total=6, done=6)

    page = client_for(reviewer).get(reverse("pii_overview", args=[dataset.slug])).content.decode()

    assert "Waiting for a scan</dt><dd>1</dd>" in page
    assert "2 in 1 conversation: 2 redacted, 0 kept" in page
    assert "Detection runs" in page
    assert page.count('<span class="badge badge-') >= 2
    assert "detection failed: boom" in page and "6 / 6" in page and "1 / 3" in page
