"""Editing a reply and cancelling it logs no htmx error: the form's hx-disabled-elt ("find
button, find textarea") is not inherited by its Cancel link, where it found nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import Role
from tests.factories import ConversationFactory, DatasetFactory, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_cancelling_an_edit_logs_no_htmx_error(live_server, page, login):
    dataset = DatasetFactory(slug="edits")
    reviewer = member(dataset, "kim", role=Role.REVIEWER)
    conversation = ConversationFactory(dataset=dataset)
    logged: list[str] = []
    page.on("console", lambda message: logged.append(f"{message.type}: {message.text}"))
    login(page, reviewer)
    page.goto(
        live_server.url + reverse("review_conversation", args=[dataset.slug, conversation.pk])
    )
    for _ in range(2):
        page.keyboard.press("e")
        page.locator("[data-edit-form] textarea").wait_for()
        # htmx binds the swapped-in form's links once the swap settles; a click before that
        # (a busy machine) would reach a link nothing listens to yet.
        page.wait_for_function(
            "() => !document.querySelector('.htmx-swapping, .htmx-settling, .htmx-request')"
        )
        page.locator("[data-edit-cancel]").click()
        page.locator("[data-edit-form]").wait_for(state="detached")
    errors = [line for line in logged if line.startswith("error") or "htmx" in line.lower()]
    assert errors == [], errors
