"""The docs/ pages are the app's help: signed-in users read them at /help/, links between
pages stay inside the help, raw HTML in a page is shown as text, and no URL reaches a file
outside the docs folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from curation.docs_pages import INDEX, page_names, render_page

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_log_in(client_for):
    for url in (reverse("help_index"), reverse("help_page", args=["importing"])):
        response = client_for(None).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_signed_in_user_reads_the_index_and_every_docs_page(client_for, outsider):
    client = client_for(outsider)
    index = client.get(reverse("help_index"))
    assert index.status_code == 200
    assert "<h1" in index.content.decode() and "Curator documentation" in index.content.decode()
    names = page_names(settings.DOCS_DIR)
    assert {"importing", "personal-data", "reviewing", "api"} <= set(names)
    for name in names:
        assert client.get(reverse("help_page", args=[name])).status_code == 200, name


def test_an_unknown_page_is_not_found(client_for, outsider):
    client = client_for(outsider)
    assert client.get(reverse("help_page", args=["no-such-page"])).status_code == 404
    # The index has one address only.
    assert client.get(reverse("help_page", args=[INDEX])).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/help/../pyproject/",
        "/help/%2e%2e%2fpyproject/",
        "/help/..%2fREADME/",
        "/help/screenshots/..%2f..%2fpyproject.toml",
        "/help/screenshots/..%5c..%5cpyproject.toml",
        "/help/screenshots/home.png%00.md",
    ],
)
def test_no_address_reaches_a_file_outside_the_docs(client_for, outsider, path):
    response = client_for(outsider).get(path)
    assert response.status_code == 404
    assert b"[project]" not in b"".join(getattr(response, "streaming_content", [response.content]))


def test_no_page_name_reaches_a_file_outside_the_docs():
    docs = settings.DOCS_DIR
    for name in ("../pyproject", "../README", "/etc/passwd", "screenshots/../README", ""):
        assert render_page(docs, name, page_url=str, screenshot_url=str) is None


def test_links_between_docs_pages_point_into_the_help(client_for, outsider):
    text = client_for(outsider).get(reverse("help_index")).content.decode()
    assert f'href="{reverse("help_page", args=["importing"])}"' in text
    assert 'href="importing.md"' not in text
    # The top-level README is not served: its link keeps only its text.
    assert "../README.md" not in text and "README</a>" not in text

    page = client_for(outsider).get(reverse("help_page", args=["reviewing"])).content.decode()
    target = reverse("help_page", args=["benchmarks"]) + "#review-pages-at-1m-conversations"
    assert f'href="{target}"' in page
    benchmarks = client_for(outsider).get(target).content.decode()
    assert 'id="review-pages-at-1m-conversations"' in benchmarks


def test_screenshots_are_served_from_the_docs_folder(client_for, outsider):
    response = client_for(outsider).get(reverse("help_screenshot", args=["home.png"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    body = b"".join(response.streaming_content)
    assert body == (Path(settings.DOCS_DIR) / "screenshots" / "home.png").read_bytes()


def test_raw_html_in_a_page_is_shown_as_text(client_for, outsider, settings, tmp_path):
    (tmp_path / "README.md").write_text("# Help\n\nSee [the page](evil.md).\n")
    (tmp_path / "evil.md").write_text(
        "# Evil\n\n<script>alert(1)</script>\n\nInline <img src=x onerror=alert(2)> too.\n\n"
        "[click](javascript:alert(3))\n"
    )
    settings.DOCS_DIR = tmp_path
    text = client_for(outsider).get(reverse("help_page", args=["evil"])).content.decode()
    article = text.split('<article class="docs">', 1)[1].split("</article>", 1)[0]
    assert "<script>" not in article and "&lt;script&gt;alert(1)&lt;/script&gt;" in article
    assert "<img" not in article and "&lt;img src=x onerror=alert(2)&gt;" in article
    assert "javascript:" not in article.replace("[click](javascript:alert(3))", "")


def test_images_show_only_from_the_screenshots_folder(client_for, outsider, settings, tmp_path):
    (tmp_path / "screenshots").mkdir()
    (tmp_path / "screenshots" / "shot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "README.md").write_text("# Help\n")
    (tmp_path / "tour.md").write_text(
        "# Tour\n\n![The home page](screenshots/shot.png)\n\n"
        "![Missing](screenshots/none.png) ![Outside](../secret.png)\n"
    )
    settings.DOCS_DIR = tmp_path
    client = client_for(outsider)
    text = client.get(reverse("help_page", args=["tour"])).content.decode()
    shot = reverse("help_screenshot", args=["shot.png"])
    assert f'<img src="{shot}" alt="The home page"' in text
    assert text.count("<img") == 1 and "Missing" in text and "Outside" in text
    assert client.get(shot).status_code == 200
    assert client.get(reverse("help_screenshot", args=["none.png"])).status_code == 404
