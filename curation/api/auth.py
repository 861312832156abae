"""Bearer-token authentication for the API: its auth class and permission helpers (the
pages' downloads take the same tokens through `curation.token_auth.download_view`).

API errors are JSON with the right status, never a redirect: no or bad token 401, a token
without the scope or restricted to another dataset 403, a dataset the user is not a member
of 404 (as on the pages: it does not exist for them). Downloads answer in plain text.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer

from curation.models import AccessToken, Dataset, Membership, Role
from curation.token_auth import bearer_secret


class ApiError(HttpError):
    """An HttpError with a stable machine-readable code beside the message."""

    def __init__(self, status: int, message: str, code: str, **extra: Any) -> None:
        super().__init__(status, message)
        self.code = code
        self.extra = extra


class TokenAuth(HttpBearer):
    """`Authorization: Bearer cur_…`: a personal access token (hashed, revocable, scoped)."""

    def __call__(self, request: HttpRequest) -> AccessToken | None:
        secret = bearer_secret(request)
        if not secret:
            request.auth_problem = (  # type: ignore[attr-defined]  # read back by the 401 handler (api/v1.py)
                "send a personal access token as: Authorization: Bearer <token>"
            )
            return None
        return self.authenticate(request, secret)

    def authenticate(self, request: HttpRequest, token: str) -> AccessToken | None:
        found = AccessToken.authenticate(token)
        if found is None:
            request.auth_problem = (  # type: ignore[attr-defined]  # read back by the 401 handler (api/v1.py)
                "this access token is not valid, has expired or has been revoked"
            )
            return None
        request.user = found.user
        return found


def api_token(request: HttpRequest) -> AccessToken:
    # django-ninja sets `auth` on the request after the authenticator accepts it.
    return request.auth  # type: ignore[attr-defined]


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
    dataset.user_role = membership.role  # type: ignore[attr-defined]  # the caller's role, for the API's replies
    return dataset


# -- downloads: a session or a bearer token ---------------------------------------------
