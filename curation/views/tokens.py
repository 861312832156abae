"""Personal access tokens: the user's own page, and bearer authentication for downloads."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from curation.models import AccessToken, AuditEvent, Dataset, TokenScope

LIFETIMES = (7, 30, 90, 365)


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, e.g. “training cluster download script”.",
    )
    days = forms.TypedChoiceField(
        label="Expires after",
        coerce=int,
        choices=[(days, f"{days} days") for days in LIFETIMES],
        required=False,
        empty_value=None,
    )

    scope = forms.TypedChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        required=False,
        empty_value=TokenScope.READ,
        help_text="Read: downloads and API reads. Ingest: post production conversations and "
        "read the production model. Admin: everything you may do.",
    )
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.none(),
        required=False,
        empty_label="All my datasets",
        help_text="Restrict the token to one dataset (others answer 403).",
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            self.fields["dataset"].queryset = Dataset.objects.for_user(user).order_by("name")
        default = settings.CURATOR_TOKEN_LIFETIME_DAYS
        if default not in LIFETIMES:
            self.fields["days"].choices = [
                (default, f"{default} days"),
                *self.fields["days"].choices,
            ]
        self.fields["days"].initial = default


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
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            if not secret.strip():
                return _unauthorized(
                    "Send a personal access token as: Authorization: Bearer <token>"
                )
            token = AccessToken.authenticate(secret.strip())
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


@never_cache
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None, user=request.user)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            token, new_secret = AccessToken.issue(
                user=request.user,
                name=form.cleaned_data["name"],
                days=form.cleaned_data["days"],
                scope=form.cleaned_data["scope"],
                dataset=form.cleaned_data["dataset"],
            )
            AuditEvent.record(
                actor=request.user,
                action="token.create",
                obj=token,
                name=token.name,
                prefix=token.prefix,
                expires_at=token.expires_at.isoformat(),
                scope=token.scope,
                dataset_slug=token.dataset.slug if token.dataset else None,
            )
        # Rendered, not redirected: the secret is shown this once and never stored in clear,
        # not even in a flash message.
        form = TokenForm(user=request.user)
    tokens = AccessToken.objects.filter(user=request.user).select_related("user", "dataset")
    return render(
        request,
        "curation/token_list.html",
        {"form": form, "tokens": tokens, "new_secret": new_secret},
    )


@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = AccessToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        raise Http404("No such token.")
    with transaction.atomic():
        if token.revoke():
            AuditEvent.record(
                actor=request.user,
                action="token.revoke",
                obj=token,
                name=token.name,
                prefix=token.prefix,
            )
            messages.success(request, f"Revoked {token.name}; scripts using it now get 401.")
        else:
            messages.info(request, f"{token.name} was already revoked.")
    return redirect("token_list")
