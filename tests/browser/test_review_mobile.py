"""The review page on a 390 px wide phone: the whole conversation is readable, the score and
decision panel sits below it (not over it), the top bar's "Log out" is reachable, and a
reviewer can score, edit and decide by touch alone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import ConversationRevision, Review, Role
from curation.services.reviews.edits import warm_up
from tests.browser.conftest import PHONE
from tests.browser.test_review import PANEL, eventually, member, shown_id, wait_for_change
from tests.factories import ConversationFactory, DatasetFactory, chat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def box(page, selector):  # type: ignore[no-untyped-def]
    return page.locator(selector).first.bounding_box()


def test_at_390_px_the_chat_is_full_width_and_the_panel_stacks_below_it(live_server, phone, login):
    dataset = DatasetFactory(slug="phone")
    reviewer = member(dataset, "pia")
    long_reply = "A long answer that wraps over several lines on a phone. " * 12
    ConversationFactory(dataset=dataset, original=chat(user="Hello?", assistant=long_reply))
    login(phone, reviewer)
    phone.goto(live_server.url + reverse("review_start", args=[dataset.slug]))
    phone.locator(f"{PANEL} .criterion").first.wait_for()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    chat_box = box(phone, "#review-chat")
    side = box(phone, "#review-side")
    assert chat_box["width"] >= 340  # not squeezed into a sliver beside the panel
    assert side["y"] >= chat_box["y"] + chat_box["height"]  # below the chat, not over it
    assert side["width"] >= 340
    # The page opens at the top of the conversation, not scrolled down to the scores.
    assert phone.evaluate("window.scrollY") == 0
    logout = phone.get_by_role("button", name="Log out")
    logout_box = logout.bounding_box()
    assert logout.is_visible() and logout_box["x"] + logout_box["width"] <= PHONE["width"]
    # The whole conversation text is on the page, at a readable width.
    assert long_reply.strip() in phone.locator("#review-chat").inner_text().replace("\n", " ")


def test_on_a_phone_a_reviewer_edits_scores_and_approves_by_touch(live_server, phone, login):
    # What the web server does at start (wsgi.py): the edit below then saves at once.
    warm_up()
    dataset = DatasetFactory(slug="touch")
    reviewer = member(dataset, "pia")
    first, second = (
        ConversationFactory(dataset=dataset, original=chat(user=f"Q{n}?", assistant=f"A{n}."))
        for n in range(2)
    )
    login(phone, reviewer)
    phone.goto(live_server.url + reverse("review_start", args=[dataset.slug]))
    assert shown_id(phone) == first.pk
    phone.locator(f"{PANEL} [data-edit]").last.tap()
    box_ = phone.locator("[data-edit-form] textarea")
    box_.fill("A better answer, typed on a phone.")
    phone.locator("[data-edit-form] button[type=submit]").tap()
    phone.locator(f"{PANEL} .msg-edited").wait_for()
    phone.locator("a.skip-to-panel").tap()
    for criterion in ("helpfulness", "accuracy", "tone"):
        phone.locator(f"{PANEL} [data-criterion={criterion}] label.score >> text=4").tap()
    phone.locator(f"{PANEL} button[value=approve]").tap()
    assert wait_for_change(phone, first.pk) == second.pk
    toast = phone.locator(f"{PANEL} [data-toast]")
    assert toast.inner_text() == f"Approved conversation {first.pk}."
    eventually(
        lambda: Review.objects.filter(conversation=first, reviewer=reviewer).exists(), "saved"
    )
    review = Review.objects.get(conversation=first, reviewer=reviewer)
    assert review.decision == "approve"
    assert review.scores == {"helpfulness": 4, "accuracy": 4, "tone": 4}
    assert ConversationRevision.objects.get(conversation=first).after.startswith("A better")
    # The next conversation is shown from its top.
    assert phone.evaluate("window.scrollY") < 200


def test_every_main_page_fits_390_px(live_server, phone, login):
    dataset = DatasetFactory(slug="fits")
    admin = member(dataset, "ada", role=Role.ADMIN)
    conversation = ConversationFactory(dataset=dataset)
    login(phone, admin)
    for url in (
        reverse("dataset_list"),
        reverse("dataset_detail", args=[dataset.slug]),
        reverse("conversation_list", args=[dataset.slug]),
        reverse("conversation_detail", args=[dataset.slug, conversation.pk]),
        reverse("review_conversation", args=[dataset.slug, conversation.pk]),
        reverse("review_stats", args=[dataset.slug]),
        reverse("review_bulk", args=[dataset.slug]),
        reverse("audit_log", args=[dataset.slug]),
        reverse("dataset_create"),
    ):
        phone.goto(live_server.url + url)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{url} scrolls sideways ({width} px)"
        assert phone.get_by_role("button", name="Log out").is_visible(), url
