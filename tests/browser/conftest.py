"""Playwright fixtures shared by every browser test.

- `browser`: one headless Debian chromium per test session (skips when it is not installed).
- `page`: a fresh browser context and page per test, failing the test on any page error.
- `login(page, user)`: logs `user` in by planting a session cookie for the live server.

Browser tests need `@pytest.mark.browser` and `@pytest.mark.django_db(transaction=True)`:
the live server runs in another thread and only sees committed rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# there are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CURATOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def settle(page: Any) -> None:
    """Wait until the page has no request in flight (the review page prefetches the next
    conversation in the background): a request the live server is still serving when the
    test's database is flushed deadlocks the flush and fails the next test."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # A page that polls is never idle for long; closing it is then the best we can do.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=5_000)


def watched_page(browser: Any, **context_options: Any) -> Iterator[Any]:
    """A page in its own context that fails the test on a JavaScript error, and is closed
    only once settled."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    settle(page)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    yield from watched_page(browser, viewport={"width": 1400, "height": 1000})


PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page on a 390 px wide touch phone."""
    yield from watched_page(browser, viewport=PHONE, has_touch=True, is_mobile=True)


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[[], Any]]:
    """More pages, each in its own context (another user's browser)."""
    contexts = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield make
    for context in contexts:
        for opened in context.pages:
            settle(opened)
        context.close()


@pytest.fixture
def login(live_server: Any) -> Callable[[Any, Any], None]:
    """login(page, user): the page's browser context is now logged in as `user`."""
    from django.conf import settings
    from django.test import Client

    def log_in(page: Any, user: Any) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
        )

    return log_in
