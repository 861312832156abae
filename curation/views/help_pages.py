"""The app's help: the docs/ pages, for signed-in users."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe

from curation.docs_pages import INDEX, DocsPage, render_page, screenshot_path


def help_page(request: HttpRequest, page: str | None = None) -> HttpResponse:
    # /help/README/ is not a page of its own: the index lives at /help/.
    shown = None if page == INDEX else _render(page or INDEX)
    if shown is None:
        raise Http404("No such help page.")
    return render(
        request,
        "help/page.html",
        # Rendered with raw HTML off, so the page's own text is escaped.
        {"page": shown, "body": mark_safe(shown.html), "is_index": shown.name == INDEX},  # noqa: S308
    )


def help_screenshot(request: HttpRequest, name: str) -> FileResponse:
    path = screenshot_path(settings.DOCS_DIR, name)
    if path is None:
        raise Http404("No such screenshot.")
    return FileResponse(path.open("rb"))


def _render(name: str) -> DocsPage | None:
    return render_page(
        settings.DOCS_DIR,
        name,
        page_url=_page_url,
        screenshot_url=lambda file_name: reverse("help_screenshot", args=[file_name]),
    )


def _page_url(name: str) -> str:
    return reverse("help_index") if name == INDEX else reverse("help_page", args=[name])
