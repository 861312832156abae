"""The version pages in Chromium at 1280 and 390 px: the compare form works without JS, the
diff fits the width, and edited words are marked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from curation.models import ConversationRevision, ConversationStatus, DatasetVersion
from curation.services.versions.build import run_build_job
from curation.services.versions.preview import create_version, normalize_filter
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("CURATOR_SCREENSHOTS")


def build(dataset) -> DatasetVersion:  # type: ignore[no-untyped-def]
    version = create_version(
        dataset=dataset, user=None, filter=normalize_filter(), enqueue=False, validation_fraction=0
    )
    run_build_job(version_id=version.pk)
    return DatasetVersion.objects.get(pk=version.pk)


@pytest.mark.parametrize("width", [1280, 390])
def test_pick_two_versions_and_read_the_word_diff(
    width, browser, live_server, login, dataset, reviewer
):
    conversations = ConversationFactory.create_batch(
        4, dataset=dataset, status=ConversationStatus.APPROVED
    )
    build(dataset)
    ConversationRevision.objects.create(
        conversation=conversations[0],
        message_index=2,
        before="Hi! How can I help?",
        after="Hi! How can I help with your refund request today, at a very long width?",
    )
    ConversationFactory(dataset=dataset, status=ConversationStatus.APPROVED)
    build(dataset)
    # No JavaScript at all: the compare form is a plain GET form.
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    login(page, reviewer)
    page.goto(f"{live_server.url}/d/{dataset.slug}/versions/")
    page.select_option("select[name=a]", "1")
    page.select_option("select[name=b]", "2")
    page.click("form.pair-form button[type=submit]")
    page.wait_for_url("**/versions/1/diff/2/")
    assert page.locator("h1").inner_text().startswith("Changes from v1 to v2")
    assert page.locator(".diff-text ins").first.inner_text().strip().startswith("with your refund")
    assert_fits(page, width, "version-diff")
    page.goto(f"{live_server.url}/d/{dataset.slug}/versions/2/")
    assert page.locator("text=Duplicates merged").count() == 1
    assert_fits(page, width, "version-detail")
    page.goto(f"{live_server.url}/d/{dataset.slug}/versions/")
    assert_fits(page, width, "version-list")
    context.close()


def assert_fits(page, width: int, name: str) -> None:  # type: ignore[no-untyped-def]
    """The page's own content fits the screen (the top bar is base.html's)."""
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)
    overflow = page.evaluate(
        "Math.max(...[...document.querySelectorAll('main *')]"
        ".map(e => e.getBoundingClientRect().right)) - window.innerWidth"
    )
    assert overflow <= 0, f"{name}: the content is {overflow}px wider than a {width}px screen"
