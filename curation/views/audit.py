"""The audit log of a dataset, for its admins."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation.models import AuditEvent
from curation.pagination import keyset_page
from curation.params import parse_text
from curation.permissions import get_dataset_for_user


def audit_log(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    events = AuditEvent.objects.filter(dataset=dataset).select_related("actor")
    filters: dict[str, str] = {}
    action = parse_text(request.GET.get("action"), max_length=100)
    if action:
        events = events.filter(action=action)
        filters["action"] = action
    user = parse_text(request.GET.get("user"), max_length=150)
    if user:
        events = events.filter(actor__username=user)
        filters["user"] = user
    page = keyset_page(events, request, per_page=50)
    actions = (
        AuditEvent.objects.filter(dataset=dataset)
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )
    users = dataset.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "curation/audit_log.html",
        {
            "dataset": dataset,
            "is_admin": True,
            "page": page,
            "filters": filters,
            "query": urlencode(filters),
            "actions": list(actions),
            "users": [membership.user.username for membership in users],
        },
    )
