"""The review page in a real browser: keyboard-only reviewing, two reviewers at once, and
untrusted conversation text that must stay text."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from curation.models import Conversation, ConversationRevision, ConversationStatus, Review, Role
from curation.services.reviews.edits import warm_up
from tests.factories import (
    ConversationFactory,
    DatasetFactory,
    PiiFindingFactory,
    chat,
    member,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PANEL = "#review-panel"


def shown_id(page) -> int | None:  # type: ignore[no-untyped-def]
    value = page.locator(PANEL).get_attribute("data-conversation")
    return int(value) if value else None


def wait_for_change(page, previous: int | None) -> int | None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "prev => { const p = document.querySelector('#review-panel');"
        " return p && (p.dataset.conversation || '') !== prev; }",
        arg=str(previous or ""),
    )
    return shown_id(page)


def eventually(check, what: str, attempts: int = 100) -> None:  # type: ignore[no-untyped-def]
    """Poll the database until the browser's background requests have landed."""
    for _ in range(attempts):
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def test_a_reviewer_scores_edits_and_approves_three_conversations_with_the_keyboard(
    live_server, page, login
):
    warm_up()  # as the web server does at start, so the first Save is not a cold one
    dataset = DatasetFactory(slug="kbd")
    reviewer = member(dataset, "kim")
    conversations = [
        ConversationFactory(
            dataset=dataset, original=chat(user=f"Question {n}?", assistant=f"Answer {n}.")
        )
        for n in range(3)
    ]
    login(page, reviewer)
    page.goto(live_server.url + reverse("review_start", args=[dataset.slug]))
    seen = []
    current = shown_id(page)
    for n in range(3):
        seen.append(current)
        page.wait_for_selector("#review-form .criterion.is-focused")
        for key in ("4", "5", "3"):
            page.keyboard.press(key)
        page.keyboard.press("e")
        box = page.locator("[data-edit-form] textarea")
        box.wait_for()
        page.wait_for_function(
            "() => document.activeElement && document.activeElement.tagName === 'TEXTAREA'"
        )
        page.keyboard.press("Control+a")
        page.keyboard.type(f"A better answer number {n}, with <b>care</b>.")
        page.keyboard.press("Control+Enter")
        page.locator(f"{PANEL} .msg-edited").wait_for()
        page.keyboard.press("a")
        current = wait_for_change(page, current)
    assert sorted(seen) == sorted(c.pk for c in conversations)
    page.locator("#review-empty").wait_for()
    eventually(lambda: Review.objects.filter(reviewer=reviewer).count() == 3, "three reviews saved")
    for n, conversation_id in enumerate(seen):
        review = Review.objects.get(conversation_id=conversation_id, reviewer=reviewer)
        assert review.decision == "approve"
        assert review.scores == {"helpfulness": 4, "accuracy": 5, "tone": 3}
        assert review.seconds is not None
        revision = ConversationRevision.objects.get(conversation_id=conversation_id)
        assert revision.after == f"A better answer number {n}, with <b>care</b>."
        conversation = Conversation.objects.get(pk=conversation_id)
        assert conversation.status == ConversationStatus.APPROVED
        assert conversation.original[2]["content"].startswith("Answer ")  # the original is kept


def test_help_overlay_criteria_keys_skip_and_history(live_server, page, login):
    dataset = DatasetFactory(slug="keys")
    reviewer = member(dataset, "kim")
    first, second, third = (ConversationFactory(dataset=dataset) for _ in range(3))
    login(page, reviewer)
    page.goto(live_server.url + reverse("review_start", args=[dataset.slug]))
    focused = f"{PANEL} .criterion.is-focused"
    assert page.locator(focused).get_attribute("data-criterion") == "helpfulness"
    page.keyboard.press("?")
    page.locator("#review-help").wait_for(state="visible")
    page.keyboard.press("Escape")
    page.locator("#review-help").wait_for(state="hidden")
    page.keyboard.press("ArrowDown")
    assert page.locator(focused).get_attribute("data-criterion") == "accuracy"
    page.keyboard.press("Tab")
    assert page.locator(focused).get_attribute("data-criterion") == "tone"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("2")  # scores accuracy, then moves on to tone
    assert page.locator(f"{PANEL} input[name=score_accuracy]:checked").get_attribute("value") == "2"
    assert page.locator(focused).get_attribute("data-criterion") == "tone"
    page.keyboard.press("a")  # not every criterion is scored: refused, and said why
    page.locator(f"{PANEL} .js-error").wait_for()
    assert shown_id(page) == first.pk
    page.keyboard.press("r")  # a rejection needs no full set of scores
    assert wait_for_change(page, first.pk) == second.pk
    page.keyboard.press("s")
    assert wait_for_change(page, second.pk) == third.pk
    page.keyboard.press("k")  # back to the one I reviewed (a skip is not a review)
    assert wait_for_change(page, third.pk) == first.pk
    page.locator(f"{PANEL} >> text=You rejected this").wait_for()
    page.keyboard.press("j")  # forward again: the queue, where the third is still mine
    assert wait_for_change(page, first.pk) == third.pk
    eventually(lambda: Review.objects.filter(reviewer=reviewer).count() == 1, "one review saved")
    assert Review.objects.get(reviewer=reviewer).scores == {"accuracy": 2}


def test_two_reviewers_at_once_never_get_the_same_conversation(live_server, new_page, login):
    dataset = DatasetFactory(slug="pair")
    alice, bob = member(dataset, "alice"), member(dataset, "bob")
    ids = {ConversationFactory(dataset=dataset).pk for _ in range(6)}
    pages = {}
    for user in (alice, bob):
        pages[user.username] = new_page()
        login(pages[user.username], user)
    url = live_server.url + reverse("review_start", args=[dataset.slug])
    for page in pages.values():
        page.goto(url)
    seen: dict[str, list[int]] = {"alice": [], "bob": []}
    current = {name: shown_id(page) for name, page in pages.items()}
    assert current["alice"] != current["bob"]
    for _ in range(3):
        # Both press their keys back to back, so their requests and prefetches overlap.
        for name, page in pages.items():
            seen[name].append(current[name])
            page.wait_for_selector("#review-form .criterion.is-focused")
            for key in ("3", "3", "3", "a"):
                page.keyboard.press(key)
        for name, page in pages.items():
            current[name] = wait_for_change(page, current[name])
        leased = {
            name: set(
                Conversation.objects.filter(leased_to__username=name).values_list("id", flat=True)
            )
            for name in pages
        }
        assert not leased["alice"] & leased["bob"]
    assert not set(seen["alice"]) & set(seen["bob"])
    assert set(seen["alice"]) | set(seen["bob"]) == ids
    eventually(lambda: Review.objects.count() == 6, "six reviews saved")
    for conversation_id in ids:
        assert Review.objects.filter(conversation_id=conversation_id).count() == 1


XSS_USER = (
    "<script>alert('script')</script> and <img src=x onerror=\"window.__xss='img';alert('img')\">"
)
XSS_ASSISTANT = "Try this:\n```html\n<svg onload=alert('svg')></svg>\n```\n<iframe src=javascript:alert('frame')></iframe>"


def test_hostile_conversation_text_is_shown_as_text_and_runs_nothing(live_server, page, login):
    dataset = DatasetFactory(slug="xss")
    reviewer = member(dataset, "kim", role=Role.ADMIN)
    conversation = ConversationFactory(
        dataset=dataset,
        original=[
            {"role": "system", "content": "<b onmouseover=alert('sys')>system</b>"},
            {"role": "user", "content": XSS_USER},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_<x>",
                        "type": "function",
                        "function": {
                            "name": "<img src=x onerror=alert('tool')>",
                            "arguments": '{"q": "<script>alert(\'args\')</script>"}',
                        },
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_<x>",
                "content": "<img src=x onerror=alert('result')>",
            },
            {"role": "assistant", "content": XSS_ASSISTANT},
        ],
        metadata={"<img src=x onerror=alert('meta')>": "<script>alert('metaval')</script>"},
    )
    # A PII span over part of the payload: the highlight must not break the escaping.
    PiiFindingFactory(
        conversation=conversation, message_index=1, start=0, end=8, entity_type="<i>X</i>"
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(page, reviewer)
    review_url = live_server.url + reverse(
        "review_conversation", args=[dataset.slug, conversation.pk]
    )
    page.goto(review_url)
    chat_box = page.locator("#review-chat")
    assert chat_box.get_by_text("alert('script')", exact=False).first.is_visible()
    assert "<script>alert('script')</script> and <img src=x onerror=" in chat_box.inner_text()
    assert "<svg onload=alert('svg')></svg>" in chat_box.inner_text()
    assert "<iframe src=javascript:alert('frame')></iframe>" in chat_box.inner_text()
    assert chat_box.locator("img, svg, iframe, script, b, i").count() == 0
    page.locator(".review-facts summary", has_text="Metadata").click()
    facts = page.locator(".review-facts").inner_text()
    assert (
        "<img src=x onerror=alert('meta')>" in facts
        and "<script>alert('metaval')</script>" in facts
    )
    # The edit form shows the raw text inside a textarea, still as text.
    page.keyboard.press("e")
    page.locator("[data-edit-form] textarea").wait_for()
    assert (
        "<iframe src=javascript:alert('frame')></iframe>"
        in page.locator("[data-edit-form] textarea").input_value()
    )
    page.keyboard.press("Escape")
    page.locator("[data-edit-form]").wait_for(state="detached")
    # The redacted view and the other pages that show the text.
    page.locator("#review-chat >> text=Show redacted view").click()
    page.locator("#review-chat.is-redacted").wait_for()
    for url in (
        reverse("conversation_detail", args=[dataset.slug, conversation.pk]),
        reverse("conversation_list", args=[dataset.slug]),
        reverse("review_clusters", args=[dataset.slug]),
    ):
        response = page.goto(live_server.url + url)
        assert response.ok, url
    assert page.evaluate("() => window.__xss === undefined")
    assert dialogs == []
