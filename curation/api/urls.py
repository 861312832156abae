"""The API's URLs. They authenticate by token themselves, so the login-required middleware
(which would redirect to the login page) is switched off for them."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver

from curation.api.v1 import api


def _exempt(patterns: list[Any]) -> list[Any]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _exempt(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            pattern.callback.login_required = False  # type: ignore[attr-defined]  # LoginRequiredMiddleware reads this flag on the view
    return patterns


patterns, app_name, namespace = api.urls
urlpatterns = _exempt(list(patterns))
