"""The registry in a browser: promote (first, then through the gate), roll back, and the
drift page's charts, at desktop width and at 390 px."""

from __future__ import annotations

from typing import Any

import pytest

from tests.training.registry.conftest import (  # noqa: F401  (fixtures)
    make_comparison,
    make_model,
    token_for,
    version,
)
from tests.training.registry.test_feedback_drift import ingest, production_item
from training.registry.promotion import production_stage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_promote_through_the_gate_and_roll_back(
    page: Any,
    live_server: Any,
    login: Any,
    admin_user: Any,
    dataset: Any,
    request: Any,
) -> None:
    new_model = request.getfixturevalue("make_model")
    compare = request.getfixturevalue("make_comparison")
    old, new = new_model("ft:gpt-4o-mini:acme::old"), new_model("ft:gpt-4o-mini:acme::new")
    login(page, admin_user)
    page.goto(f"{live_server.url}/d/{dataset.slug}/registry/models/{old.pk}/")
    page.get_by_role("button", name="Promote").click()
    page.wait_for_url(f"**/d/{dataset.slug}/registry/")
    assert "is now in production" in page.content()
    assert production_stage(dataset).model == old

    page.goto(f"{live_server.url}/d/{dataset.slug}/registry/models/{new.pk}/")
    page.get_by_role("button", name="Promote").click()
    assert "Not promoted" in page.locator(".messages").inner_text()
    assert production_stage(dataset).model == old

    # Too few examples for the gate's pre-registered minimum (30 by default): still refused.
    compare(old, new, winners=["b"] * 20)
    page.goto(f"{live_server.url}/d/{dataset.slug}/registry/models/{new.pk}/")
    page.get_by_role("button", name="Promote").click()
    assert "has 20 examples" in page.locator(".messages").inner_text()
    assert production_stage(dataset).model == old

    compare(old, new, winners=["b"] * 40)
    page.goto(f"{live_server.url}/d/{dataset.slug}/registry/models/{new.pk}/")
    page.get_by_role("button", name="Promote").click()
    page.wait_for_url(f"**/d/{dataset.slug}/registry/")
    assert production_stage(dataset).model == new
    assert page.locator(".timeline li").count() == 2

    page.get_by_role("button", name=f"Roll back to {old.ref}").click()
    page.wait_for_url(f"**/d/{dataset.slug}/registry/")
    assert "Production is back to" in page.content()
    assert production_stage(dataset).model == old


def test_drift_page_draws_its_charts_and_fits_a_phone(
    page: Any,
    live_server: Any,
    login: Any,
    reviewer: Any,
    dataset: Any,
    admin_user: Any,
    request: Any,
) -> None:
    # Some production traffic, so the charts have numbers to draw (all-zero charts say
    # "Nothing to show yet" instead of drawing axes).
    ingest(
        dataset,
        request.getfixturevalue("token_for")(admin_user, "ingest"),
        [production_item("Where is my parcel", feedback="down"), production_item("Hi")],
    )
    login(page, reviewer)
    page.set_viewport_size({"width": 390, "height": 900})
    for path in ("registry/", "drift/"):
        page.goto(f"{live_server.url}/d/{dataset.slug}/{path}")
        # The page's own content (the shared top bar is the base layout's business).
        wide = page.evaluate(
            "Array.from(document.querySelectorAll('main *'))"
            ".filter(e => e.getBoundingClientRect().right > 392 && !e.closest('.table-wrap'))"
            ".map(e => e.tagName + '.' + e.className)"
        )
        assert not wide, (path, wide[:5])
    assert page.locator("canvas[data-chart]").count() == 3
    page.wait_for_function("document.querySelectorAll('canvas[data-drawn]').length === 3")
