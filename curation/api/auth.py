"""Bearer-token authentication: the API's auth class and permission helpers, and the
`download_view` decorator that lets scripts fetch files with the same tokens.

API errors are JSON with the right status, never a redirect: no or bad token 401, a token
without the scope or restricted to another dataset 403, a dataset the user is not a member
of 404 (as on the pages: it does not exist for them). Downloads answer in plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from ninja.errors import HttpError
from ninja.security import HttpBearer

from curation.models import AccessToken, Dataset, Membership, Role, TokenScope


class ApiError(HttpError):
    """An HttpError with a stable machine-readable code beside the message."""

    def __init__(self, status: int, message: str, code: str, **extra: Any) -> None:
        super().__init__(status, message)
        self.code = code
        self.extra = extra


def bearer_secret(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer …` header ("" when it names none); None when the
    request sends no bearer header at all (another scheme is someone else's, a proxy's say)."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip()


class TokenAuth(HttpBearer):
    """`Authorization: Bearer cur_…`: a personal access token (hashed, revocable, scoped)."""

    def __call__(self, request: HttpRequest) -> AccessToken | None:
        secret = bearer_secret(request)
        if not secret:
            request.auth_problem = (  # type: ignore[attr-defined]
                "send a personal access token as: Authorization: Bearer <token>"
            )
            return None
        return self.authenticate(request, secret)

    def authenticate(self, request: HttpRequest, token: str) -> AccessToken | None:
        found = AccessToken.authenticate(token)
        if found is None:
            request.auth_problem = (  # type: ignore[attr-defined]
                "this access token is not valid, has expired or has been revoked"
            )
            return None
        request.user = found.user
        return found


def api_token(request: HttpRequest) -> AccessToken:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def require_scope(request: HttpRequest, *scopes: str) -> AccessToken:
    token = api_token(request)
    if not any(token.allows(scope) for scope in scopes):
        raise ApiError(
            403,
            f"this token's scope is {token.scope}; this needs {' or '.join(scopes)}",
            "insufficient_scope",
        )
    return token


def api_dataset(request: HttpRequest, slug: str, *scopes: str, admin: bool = False) -> Dataset:
    """The dataset, if the token has one of ``scopes``, may reach it, and its user is a member
    (a dataset admin with ``admin``)."""
    token = require_scope(request, *scopes)
    membership = (
        Membership.objects.select_related("dataset")
        .filter(dataset__slug=slug, user=token.user)
        .first()
    )
    if token.dataset_id is not None and (
        membership is None or membership.dataset_id != token.dataset_id
    ):
        raise ApiError(403, "this token is restricted to another dataset", "wrong_dataset")
    if membership is None:
        raise ApiError(404, "no such dataset", "not_found")
    if admin and membership.role != Role.ADMIN:
        raise ApiError(403, "only dataset admins can do this", "not_dataset_admin")
    dataset = membership.dataset
    dataset.user_role = membership.role  # type: ignore[attr-defined]
    return dataset


# -- downloads: a session or a bearer token ---------------------------------------------


def _unauthorized(reason: str) -> HttpResponse:
    response = HttpResponse(f"{reason}\n", status=401, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = 'Bearer realm="curator", error="invalid_token"'
    return response


def download_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For downloads that scripts fetch: a session user or `Authorization: Bearer <token>`.

    The view is exempt from LoginRequiredMiddleware and authenticates itself: a bearer
    header, when present, decides (401 if it is not a valid, unrevoked, unexpired token); any
    other Authorization scheme (a proxy's Basic auth, say) is not ours and the session decides,
    as without a header: a browser that is not logged in is sent to the login page. The view then checks dataset
    membership for whichever user this is, as any page does.
    """

    @login_not_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
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
            request.access_token = token  # type: ignore[attr-defined]
        elif not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper
