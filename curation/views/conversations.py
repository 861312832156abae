from __future__ import annotations

from django.db.models import F, FloatField, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation.models import FLAG_LABELS, Conversation, ConversationStatus
from curation.pagination import KeysetPage, count_matches, keyset_page, rows_before
from curation.params import parse_float, parse_int
from curation.permissions import get_conversation_for_user, get_dataset_for_user, is_dataset_admin
from curation.services.reviews import FEEDBACK_FILTERS, SORTS, ConversationFilter

PER_PAGE = 50


def conversation_list(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    chosen = ConversationFilter.from_params(request.GET)
    conversations = chosen.apply(dataset.conversations.all()).only(
        "id",
        "status",
        "flags",
        "token_count",
        "assistant_tokens",
        "message_count",
        "original",
        "redacted",
        "batch_id",
        "source_line",
        "dataset_id",
        "quality_score",
        "score_avg",
        "review_count",
        "near_dup_cluster",
    )
    order = SORTS[chosen.sort][0]
    next_cursor = ""
    matches = count_matches(conversations)
    first_row = 0
    if order == "-id":
        page = keyset_page(conversations, request, per_page=PER_PAGE)
        if matches.exact and page.items:
            first_row = rows_before(conversations, page.items[0].pk) + 1
    else:
        page, next_cursor = _sorted_page(conversations, request, order=order, per_page=PER_PAGE)
        if not request.GET.get("cursor") and page.items:
            first_row = 1
    for conversation in page:
        conversation.dataset = dataset
    return render(
        request,
        "curation/conversation_list.html",
        {
            "dataset": dataset,
            "page": page,
            "next_cursor": next_cursor,
            "filters": chosen.applied,
            "filter_summary": chosen.summary(),
            "bulk_hidden": chosen.filters.items(),
            "matches": matches,
            "first_row": first_row,
            "last_row": first_row + len(page) - 1 if first_row else 0,
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


def _sorted_page(
    conversations: QuerySet[Conversation], request: HttpRequest, *, order: str, per_page: int
) -> tuple[KeysetPage, str]:
    """Keyset pages over (sort value, id), forward only; `?cursor=VALUE:ID` continues after
    a row. Rows without a value (not scored yet) come last in either direction."""
    descending = order.startswith("-")
    name = order.lstrip("-")
    missing = -1e18 if descending else 1e18
    rows = conversations.annotate(
        sort_value=Coalesce(F(name), Value(missing), output_field=FloatField())
    )
    cursor = request.GET.get("cursor", "")
    value, _, last_id = cursor.partition(":")
    sort_value, after_id = parse_float(value), parse_int(last_id)
    after = (sort_value, after_id) if sort_value is not None and after_id is not None else None
    if after is not None:
        if descending:
            rows = rows.filter(Q(sort_value__lt=after[0]) | Q(sort_value=after[0], id__lt=after[1]))
        else:
            rows = rows.filter(Q(sort_value__gt=after[0]) | Q(sort_value=after[0], id__gt=after[1]))
    rows = rows.order_by("-sort_value", "-id") if descending else rows.order_by("sort_value", "id")
    found = list(rows[: per_page + 1])
    items = found[:per_page]
    next_cursor = f"{items[-1].sort_value!r}:{items[-1].pk}" if len(found) > per_page else ""
    return KeysetPage(items, None, None, after is None), next_cursor


def conversation_detail(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    from curation.pii.policy import KNOWN_ENTITIES
    from curation.views.pii import _chat_context

    conversation = get_conversation_for_user(request, slug, conversation_id)
    context = _chat_context(request, conversation)
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
