"""The request types views see, for the attributes middleware adds (settings.MIDDLEWARE).

`HtmxMiddleware` sets `request.htmx` on every request, which Django's `HttpRequest` does not
declare: views that read it take `HtmxHttpRequest`, as django-htmx's documentation suggests
(https://django-htmx.readthedocs.io/en/latest/tips.html#type-hints). `LoginRequiredMiddleware`
lets no anonymous user reach a view that is not marked `login_not_required`: such views may
take `AuthenticatedHttpRequest`, whose `user` is a real account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_htmx.middleware import HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    user: User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
