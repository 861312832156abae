"""Forms with long choices (a token's scope, a provider's name) fit a 390 px phone: the page
never scrolls sideways because a select's longest option is wider than the screen."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_the_token_form_fits_a_phone_despite_its_long_scope_choices(live_server, phone, login):
    login(phone, UserFactory(username="tess"))
    phone.goto(live_server.url + reverse("token_list"))
    scope = phone.locator("select[name=scope]")
    scope.wait_for()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    select_box = scope.bounding_box()
    assert select_box["x"] + select_box["width"] <= PHONE["width"]
