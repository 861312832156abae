"""Personal access tokens on the pages: `download_view` lets scripts fetch version files,
adapters and reports with `Authorization: Bearer <token>`, as the JSON API (`curation.api`)
does with the same `bearer_secret` parsing.

API errors are JSON (see `curation.api.auth`); downloads answer in plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from curation.models import AccessToken, TokenScope


def bearer_secret(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer …` header ("" when it names none); None when the
    request sends no bearer header at all (another scheme is someone else's, a proxy's say)."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip()


def _unauthorized(reason: str) -> HttpResponse:
    response = HttpResponse(f"{reason}\n", status=401, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = 'Bearer realm="curator", error="invalid_token"'
    return response


def download_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """For downloads that scripts fetch: a session user or `Authorization: Bearer <token>`.

    The view is exempt from LoginRequiredMiddleware and authenticates itself: a bearer
    header, when present, decides (401 if it is not a valid, unrevoked, unexpired token); any
    other Authorization scheme (a proxy's Basic auth, say) is not ours and the session decides,
    as without a header: a browser that is not logged in is sent to the login page. The view then checks dataset
    membership for whichever user this is, as any page does.
    """

    @login_not_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        secret = bearer_secret(request)
        if secret is not None:
            if not secret:
                return _unauthorized(
                    "Send a personal access token as: Authorization: Bearer <token>"
                )
            token = AccessToken.authenticate(secret)
            if token is None:
                return _unauthorized(
                    "This access token is not valid, has expired or has been revoked."
                )
            if not token.allows(TokenScope.READ) or (
                token.dataset_id is not None
                and kwargs.get("slug") not in (None, getattr(token.dataset, "slug", None))
            ):
                return HttpResponse(
                    "This token's scope or dataset does not cover this download.\n",
                    status=403,
                    content_type="text/plain; charset=utf-8",
                )
            request.user = token.user
            request.access_token = token  # type: ignore[attr-defined]  # read back by the views that accept a token
        elif not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper
