"""An import that finishes while its page is open switches to its final state by itself."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from curation.models import Role
from curation.services.imports import create_import_batch, run_import_job
from tests.factories import DatasetFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}


@pytest.mark.parametrize("width", [1280, 390])
def test_the_open_import_page_shows_the_final_state_when_the_import_finishes(
    page, login, live_server, width
):
    dataset = DatasetFactory(slug="live")
    admin = UserFactory(username="admin")
    MembershipFactory(dataset=dataset, user=admin, role=Role.ADMIN)
    content = (json.dumps(GOOD) + "\n{broken\n").encode()
    batch = create_import_batch(
        dataset=dataset,
        uploaded=ContentFile(content, name="chats.jsonl"),
        original_name="chats.jsonl",
        fmt="auto",
        user=admin,
        enqueue=False,
    )
    page.set_viewport_size({"width": width, "height": 900})
    login(page, admin)
    page.goto(live_server.url + reverse("import_detail", args=[dataset.slug, batch.pk]))
    live = page.locator("#import-live")
    assert "None so far" in live.inner_text()
    assert "Detect automatically" not in live.inner_text()

    run_import_job(batch_id=batch.pk)

    page.wait_for_function(
        "() => document.querySelector('#import-live').dataset.state === 'succeeded'",
        timeout=15_000,
    )
    text = live.inner_text()
    assert "Succeeded with rejected lines" in text
    assert "OpenAI chat JSONL" in text
    assert "not valid JSON" in text
    assert "None so far" not in text
    assert live.get_attribute("hx-trigger") is None
    # Nothing of the import's own content overflows the narrow screen (the top bar is the
    # layout's).
    wide = page.evaluate(
        "w => [...document.querySelectorAll('#import-live, #import-live *')]"
        ".filter(e => e.getBoundingClientRect().right > w + 1)"
        ".map(e => e.tagName + '.' + e.className)",
        width,
    )
    assert wide == []
