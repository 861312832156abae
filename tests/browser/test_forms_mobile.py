"""Forms with long choices (a token's scope, a provider's name) fit a 390 px phone: the page
never scrolls sideways because a select's longest option is wider than the screen."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.browser.conftest import PHONE
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_token_form_fits_a_phone_despite_its_long_scope_choices(live_server, phone, login):
    login(phone, UserFactory(username="tess"))
    phone.goto(live_server.url + reverse("token_list"))
    scope = phone.locator("select[name=scope]")
    scope.wait_for()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    select_box = scope.bounding_box()
    assert select_box["x"] + select_box["width"] <= PHONE["width"]
