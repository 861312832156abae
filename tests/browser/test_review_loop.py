"""The review loop as a reviewer feels it: where they are ("N left"), a confirmation after
each decision, a focus ring that is not a score, a Save that says it is working and keys
pressed meanwhile that are not lost, and an empty queue that says why."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import Review
from curation.services.reviews.edits import warm_up
from tests.browser.test_review import PANEL, eventually, member, shown_id, wait_for_change
from tests.factories import ConversationFactory, DatasetFactory, chat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def left(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator(f"{PANEL} .review-left").inner_text()


def test_the_loop_counts_down_confirms_each_decision_and_explains_the_empty_queue(
    live_server, page, login
):
    dataset = DatasetFactory(slug="loop")
    reviewer = member(dataset, "lee")
    first, second = ConversationFactory(dataset=dataset), ConversationFactory(dataset=dataset)
    ConversationFactory(dataset=dataset, flags=["duplicate"])  # never offered
    login(page, reviewer)
    page.goto(live_server.url + reverse("review_start", args=[dataset.slug]))
    assert shown_id(page) == first.pk
    assert left(page) == "2 left for you"
    # The keyboard focus sits on "1" of the first criterion, but nothing is chosen.
    focused = page.locator(f"{PANEL} .criterion.is-focused input:focus")
    assert focused.get_attribute("value") == "1" and not focused.is_checked()
    ring = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement.nextElementSibling);"
        " return [s.outlineStyle, s.backgroundColor]; }"
    )
    assert ring == ["dashed", "rgb(255, 255, 255)"]  # a dashed ring, not the chosen fill
    page.keyboard.press("r")
    assert wait_for_change(page, first.pk) == second.pk
    assert (
        page.locator(f"{PANEL} [data-toast]").inner_text() == f"Rejected conversation {first.pk}."
    )
    assert left(page) == "1 left for you"
    page.keyboard.press("r")
    page.locator("#review-empty").wait_for()
    text = page.locator(PANEL).inner_text()
    assert f"Rejected conversation {second.pk}." in text
    assert "1 exact duplicate of other conversations" in text
    page.keyboard.press("k")
    wait_for_change(page, None)
    page.locator(f"{PANEL} >> text=You rejected this just now").wait_for()
    eventually(lambda: Review.objects.filter(reviewer=reviewer).count() == 2, "two reviews")


def test_save_says_it_is_working_and_score_keys_pressed_meanwhile_count(live_server, page, login):
    warm_up()
    dataset = DatasetFactory(slug="save")
    reviewer = member(dataset, "lee")
    conversation = ConversationFactory(dataset=dataset, original=chat(assistant="Old reply."))
    login(page, reviewer)
    page.goto(live_server.url + reverse("review_start", args=[dataset.slug]))
    page.keyboard.press("e")
    page.locator("[data-edit-form] textarea").wait_for()
    page.wait_for_function("() => document.activeElement.tagName === 'TEXTAREA'")
    page.keyboard.press("Control+a")
    page.keyboard.type("New reply.")
    held = []
    page.route("**/edit/", lambda route: held.append(route))  # the server is slow today
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelector('[data-edit-form] button').disabled")
    assert page.locator("[data-edit-form] textarea").is_disabled()
    assert page.locator("[data-edit-form] .busy").is_visible()
    # Typed while saving: scores, not lost in the dead text box. The first key reaches the
    # disabled box itself, as it does until the browser moves the focus off it.
    page.dispatch_event("[data-edit-form] textarea", "keydown", {"key": "4", "bubbles": True})
    page.keyboard.press("5")
    # Playwright runs the route handler only while one of its own calls waits (never during
    # time.sleep): wait in the browser until the held request has arrived.
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the save was never sent"
    held[0].continue_()
    page.unroute("**/edit/")
    page.locator(f"{PANEL} .msg-edited").wait_for()
    checked = page.locator(f"{PANEL} .criterion input:checked")
    assert [checked.nth(n).get_attribute("value") for n in range(checked.count())] == ["4", "5"]
    assert conversation.revisions.get().after == "New reply."
