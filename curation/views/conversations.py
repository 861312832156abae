from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation.models import FLAG_LABELS, ConversationStatus
from curation.permissions import get_conversation_for_user, get_dataset_for_user, is_dataset_admin
from curation.pii.policy import KNOWN_ENTITIES
from curation.selectors.chat import pii_chat
from curation.selectors.conversations import (
    FEEDBACK_FILTERS,
    SORTS,
    ConversationFilter,
    conversation_page,
)


def conversation_list(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    chosen = ConversationFilter.from_params(request.GET)
    found = conversation_page(dataset=dataset, chosen=chosen, request=request)
    return render(
        request,
        "curation/conversation_list.html",
        {
            "dataset": dataset,
            "page": found.page,
            "next_cursor": found.next_cursor,
            "filters": chosen.applied,
            "filter_summary": chosen.summary(),
            "bulk_hidden": chosen.filters.items(),
            "matches": found.matches,
            "first_row": found.first_row,
            "last_row": found.last_row,
            "narrowed": bool(chosen.filters),
            "query": chosen.query(),
            "statuses": ConversationStatus.choices,
            "flags": sorted(FLAG_LABELS.items(), key=lambda item: item[1]),
            "sorts": [(key, label) for key, (_, label) in SORTS.items()],
            "feedback_filters": [(key, label) for key, (label, _) in FEEDBACK_FILTERS.items()],
            "batches": dataset.batches.only("id", "original_name")[:200],
            "reviewers": dataset.memberships.select_related("user").order_by("user__username"),
            "is_admin": is_dataset_admin(dataset),
        },
    )


def conversation_detail(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, slug, conversation_id)
    context = pii_chat(conversation, view=request.GET.get("view") or "original")
    return render(
        request,
        "curation/conversation_detail.html",
        {
            "dataset": conversation.dataset,
            **context,
            "can_edit": context["view"] == "original",
            "finding_count": conversation.findings.count(),
            "entity_types": KNOWN_ENTITIES,
            "is_admin": is_dataset_admin(conversation.dataset),
        },
    )
