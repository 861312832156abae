"""PII correction in a real browser: on the review page (1280 and 390 px wide) a click on a
highlighted value keeps it or redacts it again; on the conversation page a selected value is
redacted and the form and counts follow without a reload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from curation.models import ConversationStatus, FindingDecision, PiiFinding, Role
from tests.factories import ConversationFactory, DatasetFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Set to a folder to keep screenshots of each step for a person to look at.
SHOTS = os.environ.get("CURATOR_PII_SCREENSHOTS")


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def setup_conversation():  # type: ignore[no-untyped-def]
    dataset = DatasetFactory(slug="pii-browser")
    reviewer = UserFactory(username="rita")
    MembershipFactory(dataset=dataset, user=reviewer, role=Role.REVIEWER)
    text = "Please ship the Margherita pizza order to me; my e-mail is kim.lee@example.org."
    conversation = ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.IN_REVIEW,
        original=[
            {"role": "user", "content": text},
            {"role": "assistant", "content": "Done, kim.lee@example.org will get a receipt."},
        ],
    )
    start = text.index("kim.lee")
    finding = PiiFinding.objects.create(
        conversation=conversation,
        message_index=0,
        start=start,
        end=start + len("kim.lee@example.org"),
        entity_type="EMAIL_ADDRESS",
    )
    return dataset, reviewer, conversation, finding


@pytest.mark.parametrize("width", [1280, 390])
def test_a_reviewer_keeps_and_redacts_a_finding_on_the_review_page(live_server, page, login, width):
    dataset, reviewer, conversation, finding = setup_conversation()
    page.set_viewport_size({"width": width, "height": 900})
    login(page, reviewer)
    page.goto(
        live_server.url + reverse("review_conversation", args=[dataset.slug, conversation.pk])
    )
    mark = page.locator(f'#review-chat mark[data-finding="{finding.pk}"]')
    mark.wait_for()
    shot(page, f"review-{width}-before")
    # The whole value is the target; its type label is no part of the message text.
    box = mark.bounding_box()
    assert box is not None and box["width"] > 60
    assert mark.inner_text() == "kim.lee@example.org"

    # Click the value itself (its left edge), not the small type label.
    mark.locator("button").click(position={"x": 4, "y": box["height"] / 2})

    kept = page.locator(f'#review-chat mark.pii-keep[data-finding="{finding.pk}"]')
    kept.wait_for()
    label = kept.locator("button").get_attribute("data-label")
    assert label == "kept · EMAIL_ADDRESS"
    shown = page.evaluate(
        "el => getComputedStyle(el, '::after').content", kept.locator("button").element_handle()
    )
    assert "kept · EMAIL_ADDRESS" in shown and "✕" not in shown
    finding.refresh_from_db()
    assert finding.decision == FindingDecision.KEEP
    shot(page, f"review-{width}-kept")

    kept.locator("button").click()
    page.locator(f'#review-chat mark.pii-redact[data-finding="{finding.pk}"]').wait_for()
    finding.refresh_from_db()
    assert finding.decision == FindingDecision.REDACT
    # The review form itself is untouched by the swap.
    assert page.locator("#review-panel").count() == 1


def test_redacting_selected_text_clears_the_form_and_updates_counts(live_server, page, login):
    dataset, reviewer, conversation, _ = setup_conversation()
    login(page, reviewer)
    page.goto(
        live_server.url + reverse("conversation_detail", args=[dataset.slug, conversation.pk])
    )
    page.locator("#pii-count").wait_for()
    assert page.locator("#pii-count").inner_text() == "1 finding"

    page.fill("#add-finding input[name=text]", "Margherita")
    page.fill("#add-finding input[name=entity_type]", "PRODUCT")
    page.click("#add-finding button[type=submit]")

    page.wait_for_function(
        "() => document.querySelector('#pii-count').textContent.trim() === '2 findings'"
    )
    assert page.locator("#add-finding input[name=text]").input_value() == ""
    assert "2 findings: 2 redacted, 0 kept" in page.locator("#pii-counts").inner_text()
    assert PiiFinding.objects.filter(conversation=conversation).count() == 2
    shot(page, "conversation-1280-after-redact")
    page.set_viewport_size({"width": 390, "height": 900})
    shot(page, "conversation-390")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_pii_overview_shows_state_and_run_history(live_server, page, login, width):
    from curation.models import JobStatus, PiiRun

    dataset, reviewer, _, _ = setup_conversation()
    PiiRun.objects.create(
        dataset=dataset, status=JobStatus.FAILED, total=3, done=1, error="detection failed: boom"
    )
    PiiRun.objects.create(dataset=dataset, status=JobStatus.SUCCEEDED, total=6, done=6)
    page.set_viewport_size({"width": width, "height": 900})
    login(page, reviewer)

    page.goto(live_server.url + reverse("pii_overview", args=[dataset.slug]))

    page.get_by_text("Detection runs").wait_for()
    assert page.locator(".pii-state").is_visible()
    rows = page.locator(".pii-table-scroll tbody tr")
    assert rows.count() == 2
    # A wide table scrolls inside its own box instead of pushing the page sideways.
    table_box = page.locator(".pii-table-scroll").bounding_box()
    assert table_box is not None and table_box["x"] + table_box["width"] <= max(width, 1280)
    shot(page, f"overview-{width}")
