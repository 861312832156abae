"""Every help page (docs/ rendered, with its wide tables and long code lines) fits a 390 px
phone: the page never scrolls sideways, only a wide table or code block inside its box."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from curation.docs_pages import page_names
from tests.browser.conftest import PHONE
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_help_page_fits_a_phone(live_server, phone, login):
    login(phone, UserFactory(username="tess"))
    urls = [reverse("help_index")] + [
        reverse("help_page", args=[name]) for name in page_names(settings.DOCS_DIR)
    ]
    wide = {}
    for url in urls:
        phone.goto(live_server.url + url)
        phone.locator("article.docs h1").wait_for()
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide[url] = width
    assert not wide, wide
