"""Every help page (docs/ rendered, with its wide tables and long code lines) fits a 390 px
phone: the page never scrolls sideways, only a wide table or code block inside its box, and a
column of prose keeps a readable width instead of being squeezed to a word a line. At 1280 px
the same holds: prose columns stay readable, and the rare table too wide for the page's column
scrolls in its box (long identifiers and URLs in prose cells wrap)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from curation.docs_pages import page_names
from tests.browser.conftest import PHONE
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
# A cell with this much text is prose; on a phone its column is at least READABLE px wide
# (about 15 characters). Before, three-column tables squeezed such cells to about 76 px.
PROSE_CHARACTERS = 40
READABLE = 120

TABLES = """() => [...document.querySelectorAll('article.docs table')].map((table) => {
  const box = table.parentElement;
  const prose = [...table.querySelectorAll('th, td')]
    .filter((cell) => cell.innerText.trim().length >= PROSE)
    .map((cell) => Math.round(cell.getBoundingClientRect().width));
  return {
    head: table.rows[0].innerText.replace(/\\s+/g, ' ').slice(0, 60),
    boxScrolls: getComputedStyle(box).overflowX === 'auto',
    boxRight: Math.round(box.getBoundingClientRect().right),
    boxWidth: box.clientWidth,
    tableWidth: Math.round(table.getBoundingClientRect().width),
    narrowestProse: prose.length ? Math.min(...prose) : null,
  };
})""".replace("PROSE", str(PROSE_CHARACTERS))


def help_urls() -> list[str]:
    return [reverse("help_index")] + [
        reverse("help_page", args=[name]) for name in page_names(settings.DOCS_DIR)
    ]


def tables_on(page: Any, url: str) -> list[dict]:
    page.goto(url)
    page.locator("article.docs h1").wait_for()
    return page.evaluate(TABLES)


def test_every_help_page_fits_a_phone_with_wide_tables_scrolling_in_their_box(
    live_server, phone, login
):
    login(phone, UserFactory(username="tess"))
    wide, loose, cramped = {}, [], []
    table_count = 0
    for url in help_urls():
        tables = tables_on(phone, live_server.url + url)
        table_count += len(tables)
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide[url] = width
        for table in tables:
            # A table wider than the screen must scroll inside a box that itself fits.
            fits = table["tableWidth"] <= table["boxWidth"]
            in_box = table["boxScrolls"] and table["boxRight"] <= PHONE["width"]
            if not (fits or in_box):
                loose.append((url, table))
            if table["narrowestProse"] is not None and table["narrowestProse"] < READABLE:
                cramped.append((url, table))
    assert table_count > 20  # the docs' tables were all looked at
    assert not wide, wide
    assert not loose, loose
    assert not cramped, cramped


def test_every_help_table_keeps_prose_readable_and_the_page_still_at_1280_px(
    live_server, page, login
):
    page.set_viewport_size(DESKTOP)
    login(page, UserFactory(username="tess"))
    loose, cramped = [], []
    for url in help_urls():
        for table in tables_on(page, live_server.url + url):
            fits = table["tableWidth"] <= table["boxWidth"]
            if not (fits or (table["boxScrolls"] and table["boxRight"] <= DESKTOP["width"])):
                loose.append((url, table))
            if table["narrowestProse"] is not None and table["narrowestProse"] < READABLE:
                cramped.append((url, table))
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"], url
    assert not loose, loose
    assert not cramped, cramped
