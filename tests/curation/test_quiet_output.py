"""What a newcomer sees first stays readable: no httpx request lines from the provider SDKs,
and the version page's download snippet follows redirects like the docs' (`curl -fLOJ`)."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from tests.factories import built_version


def test_httpx_request_lines_are_not_logged_at_info():
    for name in ("httpx", "httpx2", "httpcore"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)


@pytest.mark.django_db
def test_the_version_pages_download_snippet_follows_redirects(dataset, reviewer, client_for):
    version = built_version(dataset)
    page = client_for(reviewer).get(reverse("version_detail", args=[dataset.slug, version.number]))
    text = page.content.decode()
    assert "curl -fLOJ -H" in text and "curl -fOJ" not in text
