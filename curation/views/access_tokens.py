"""Personal access tokens: the user's own page to create and revoke them."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from curation.forms import TokenForm
from curation.http import AuthenticatedHttpRequest
from curation.models import AccessToken
from curation.permissions import get_access_token_for_user
from curation.services.access_tokens import access_token_create, access_token_revoke


@never_cache
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None, user=request.user)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        _, new_secret = access_token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
            scope=form.cleaned_data["scope"],
            dataset=form.cleaned_data["dataset"],
            actor=request.user,
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
    token = get_access_token_for_user(request, token_id)
    if access_token_revoke(token=token, actor=request.user):
        messages.success(request, f"Revoked {token.name}; scripts using it now get 401.")
    else:
        messages.info(request, f"{token.name} was already revoked.")
    return redirect("token_list")
