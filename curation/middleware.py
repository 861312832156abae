"""Answers a dataset the visitor cannot see with a page that says what to do about it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation.permissions import DatasetNotFound


class DatasetNotFoundMiddleware:
    """Someone who follows a colleague's link to a dataset they are not in gets "ask a dataset
    admin to add you", not Django's bare 404 (which DEBUG, as `make run` runs, would show
    instead of the site's 404 template). Still a 404, and the same page whether the dataset
    exists or not."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DatasetNotFound):
            return None
        return render(request, "curation/dataset_not_found.html", status=404)
