from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation.models import FLAG_LABELS, ConversationStatus
from curation.pagination import keyset_page
from curation.permissions import get_conversation_for_user, get_dataset_for_user, is_dataset_admin


def conversation_list(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    conversations = dataset.conversations.all()
    filters: dict[str, Any] = {}
    status = request.GET.get("status", "")
    if status in ConversationStatus.values:
        conversations = conversations.filter(status=status)
        filters["status"] = status
    batch = request.GET.get("batch", "")
    if batch.isdigit():
        conversations = conversations.filter(batch_id=int(batch))
        filters["batch"] = batch
    flag = request.GET.get("flag", "")
    if flag == "passing":
        conversations = conversations.passing()
        filters["flag"] = flag
    elif flag == "any":
        conversations = conversations.exclude(flags=[])
        filters["flag"] = flag
    elif flag in FLAG_LABELS:
        conversations = conversations.with_flag(flag)
        filters["flag"] = flag
    page = keyset_page(
        conversations.only(
            "id", "status", "flags", "token_count", "assistant_tokens", "message_count", "original", "redacted",
            "batch_id", "source_line", "dataset_id",
        ),
        request,
        per_page=50,
    )
    for conversation in page:
        conversation.dataset = dataset
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return render(
        request,
        "curation/conversation_list.html",
        {
            "dataset": dataset,
            "page": page,
            "filters": filters,
            "query": query,
            "statuses": ConversationStatus.choices,
            "flags": sorted(FLAG_LABELS.items(), key=lambda item: item[1]),
            "batches": dataset.batches.only("id", "original_name")[:200],
            "is_admin": is_dataset_admin(dataset),
        },
    )


def conversation_detail(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, slug, conversation_id)
    return render(
        request,
        "curation/conversation_detail.html",
        {
            "dataset": conversation.dataset,
            "conversation": conversation,
            "messages_list": conversation.messages_for_display(),
            "is_admin": is_dataset_admin(conversation.dataset),
        },
    )
