"""Review pages: the queue, the review page, edits, adjudication, stats, duplicates, bulk."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from curation.http import HtmxHttpRequest
from curation.models import FLAG_LABELS, Conversation, Dataset, Decision
from curation.params import parse_float, parse_int, parse_ints
from curation.permissions import (
    get_adjudication_for_user,
    get_conversation_for_user,
    get_dataset_for_user,
    is_dataset_admin,
)
from curation.selectors.chat import message_segments
from curation.selectors.conversations import ConversationFilter, bulk_targets
from curation.selectors.dashboards import review_stats as review_stats_for
from curation.selectors.duplicates import cluster_member, clusters_with_members
from curation.selectors.review_page import (
    adjudications,
    next_open_adjudication,
    review_panel,
    with_tallies,
)
from curation.selectors.review_queue import can_edit, neighbours
from curation.services.reviews.decisions import (
    adjudicate,
    decide_conversations,
    keep_one,
    submit_review,
)
from curation.services.reviews.edits import edit_message
from curation.services.reviews.errors import ReviewError
from curation.services.reviews.queue import claim_for_review, claim_next, skip
from curation.texts import message_text

PANEL = "curation/review.html#panel"
# The confirmation after a decision (review.js words it the same way for a prefetched swap).
DONE_LABELS = {"approve": "Approved", "reject": "Rejected", "skip": "Skipped"}
# Rows one bulk form may tick (a page of the list is 50); "select all matching" has no limit.
MAX_SELECTED = 1000


def _seconds(request: HttpRequest) -> float | None:
    """Time spent on the conversation: measured in the browser when JS runs (it knows when
    a prefetched conversation was shown), else since the server rendered the page."""
    elapsed = parse_int(request.POST.get("elapsed_ms", ""))
    if elapsed is not None:
        return min(elapsed / 1000, 3600.0)
    opened = parse_float(request.POST.get("opened_at", ""))
    if opened is None:
        return None
    return max(0.0, min(time.time() - opened, 3600.0))


def _panel_context(
    request: HttpRequest,
    dataset: Dataset,
    conversation: Conversation | None,
    *,
    error: str = "",
    posted: dict[str, Any] | None = None,
    decided: Collection[int] = (),
    confirmation: str = "",
) -> dict[str, Any]:
    context = review_panel(
        dataset=dataset,
        conversation=conversation,
        reviewer=request.user,
        is_admin=is_dataset_admin(dataset),
        redacted=request.GET.get("view") == "redacted",
        posted=posted,
        decided=decided,
    )
    return {**context, "error": error, "confirmation": confirmation}


def _open(request: HttpRequest, dataset: Dataset, conversation: Conversation) -> dict[str, Any]:
    """Lease the conversation if it needs me (one claim, before anything is read), then its
    panel."""
    claim_for_review(conversation=conversation, reviewer=request.user)
    return _panel_context(request, dataset, conversation)


def _partial(request: HtmxHttpRequest) -> bool:
    # A history restore (back button after a cache miss) needs the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _panel_response(request: HtmxHttpRequest, context: dict[str, Any]) -> HttpResponse:
    partial = _partial(request)
    response = render(request, PANEL if partial else "curation/review.html", context)
    conversation = context.get("conversation")
    if partial:
        url = (
            reverse("review_conversation", args=[context["dataset"].slug, conversation.pk])
            if conversation
            else reverse("review_start", args=[context["dataset"].slug])
        )
        response["HX-Push-Url"] = url
    return response


def review_start(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The next conversation that needs me. `?exclude=ID` prefetches the one after ID."""
    dataset = get_dataset_for_user(request, slug)
    exclude = parse_ints(request.GET.getlist("exclude"), limit=5)
    conversation = claim_next(dataset=dataset, reviewer=request.user, exclude=exclude)
    if exclude and _partial(request):
        if conversation is None:
            return HttpResponse(status=204)
        # Rendered while the one on screen is still open; its decision will land first.
        context = _panel_context(request, dataset, conversation, decided=exclude)
        return render(request, PANEL, context)
    if conversation is not None and not _partial(request):
        return redirect("review_conversation", slug=dataset.slug, conversation_id=conversation.pk)
    return _panel_response(request, _panel_context(request, dataset, conversation))


def review_conversation(request: HtmxHttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, slug, conversation_id)
    dataset = conversation.dataset
    if request.method == "POST":
        return _decide(request, dataset, conversation)
    if _partial(request) and request.GET.get("fragment") == "chat":
        context = _panel_context(request, dataset, conversation)
        return render(request, "partials/review_chat.html", context)
    return _panel_response(request, _open(request, dataset, conversation))


def review_step(
    request: HtmxHttpRequest, slug: str, conversation_id: int, direction: str
) -> HttpResponse:
    """J/K: the conversation before or after this one in my review history, worked out when
    asked (a prefetched page cannot know a decision made after it was rendered). Past the
    newest, "next" is the queue."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    dataset = conversation.dataset
    previous, following = neighbours(
        dataset=dataset, reviewer=request.user, conversation=conversation
    )
    target = previous if direction == "previous" else following
    if target is None and direction == "next":
        return review_start(request, slug)
    if target is None:
        if _partial(request):
            return HttpResponse(status=204)
        return redirect("review_conversation", slug=dataset.slug, conversation_id=conversation.pk)
    if not _partial(request):
        return redirect("review_conversation", slug=dataset.slug, conversation_id=target)
    step_to = get_conversation_for_user(request, slug, target)
    return _panel_response(request, _open(request, dataset, step_to))


def _decide(request: HtmxHttpRequest, dataset: Dataset, conversation: Conversation) -> HttpResponse:
    action = request.POST.get("action", "")
    user = request.user
    if action == "skip":
        skip(conversation=conversation, reviewer=user)
    else:
        raw = {
            criterion["key"]: request.POST.get(f"score_{criterion['key']}", "")
            for criterion in dataset.criteria
        }
        try:
            submit_review(
                conversation=conversation,
                reviewer=user,
                decision=action,
                scores=raw,
                comment=request.POST.get("comment", ""),
                seconds=_seconds(request),
            )
        except ReviewError as error:
            posted: dict[str, int | str] = {
                key: int(value) for key, value in raw.items() if value.isdigit()
            }
            posted["comment"] = request.POST.get("comment", "")
            claim_for_review(conversation=conversation, reviewer=user)
            context = _panel_context(
                request, dataset, conversation, error=str(error), posted=posted
            )
            return _panel_response(request, context)
    if request.htmx and request.headers.get("X-Curator-Prefetched"):
        # The browser already shows the prefetched next conversation (and the confirmation).
        return HttpResponse(status=204)
    done = f"{DONE_LABELS.get(action, 'Saved')} conversation {conversation.pk}."
    if request.htmx:
        following = claim_next(dataset=dataset, reviewer=user)
        context = _panel_context(request, dataset, following, confirmation=done)
        return _panel_response(request, context)
    messages.success(request, done)
    return redirect("review_start", slug=dataset.slug)


def review_edit(
    request: HtmxHttpRequest, slug: str, conversation_id: int, index: int
) -> HttpResponse:
    """Edit one assistant message inline; saved as a revision, the original kept."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    dataset = conversation.dataset
    if not can_edit(conversation, request.user, is_admin=is_dataset_admin(dataset)):
        raise PermissionDenied("This conversation cannot be edited by you now.")
    current = conversation.current_messages()
    if not 0 <= index < len(current) or current[index].get("role") != "assistant":
        raise Http404("No such assistant message.")
    error = ""
    text = message_text(current[index])
    if request.method == "POST":
        text = request.POST.get("text", "")
        try:
            edit_message(
                conversation=conversation, user=request.user, message_index=index, text=text
            )
        except ReviewError as problem:
            error = str(problem)
        else:
            if request.htmx:
                context = _panel_context(request, dataset, conversation)
                context["oob_facts"] = True
                return render(request, "partials/review_chat.html", context)
            messages.success(request, f"Saved your edit of message {index + 1}.")
            return redirect(
                "review_conversation", slug=dataset.slug, conversation_id=conversation.pk
            )
    context = {
        "dataset": dataset,
        "conversation": conversation,
        "index": index,
        "text": text,
        "error": error,
        "is_admin": is_dataset_admin(dataset),
    }
    if request.htmx:
        response = render(request, "curation/review_edit.html#form", context)
        if request.method == "POST":
            # The form posts to the whole chat; an error re-shows only the message's form.
            response["HX-Retarget"] = f"#msg-{index}"
            response["HX-Reswap"] = "outerHTML"
        return response
    return render(request, "curation/review_edit.html", context)


# -- adjudication ---------------------------------------------------------------------------


def adjudication_list(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    show = request.GET.get("show", "open")
    page = Paginator(adjudications(dataset=dataset, show=show), 50).get_page(
        request.GET.get("page")
    )
    with_tallies(dataset, page)
    return render(
        request,
        "curation/adjudication_list.html",
        {"dataset": dataset, "page": page, "show": show, "is_admin": True, "query": f"show={show}"},
    )


def adjudication_detail(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    adjudication = get_adjudication_for_user(request, slug, conversation_id)
    conversation = adjudication.conversation
    dataset = conversation.dataset
    error = ""
    if request.method == "POST":
        try:
            adjudicate(
                adjudication=adjudication,
                admin=request.user,
                decision=request.POST.get("decision", ""),
                comment=request.POST.get("comment", ""),
            )
        except ReviewError as problem:
            error = str(problem)
        else:
            messages.success(
                request,
                f"Decided conversation {conversation.pk}: {adjudication.get_decision_display().lower()}.",
            )
            following = next_open_adjudication(dataset)
            if following is not None:
                return redirect(
                    "adjudication_detail",
                    slug=dataset.slug,
                    conversation_id=following.conversation_id,
                )
            return redirect("adjudication_list", slug=dataset.slug)
    return render(
        request,
        "curation/adjudication_detail.html",
        {
            "dataset": dataset,
            "conversation": conversation,
            "adjudication": adjudication,
            "reviews": conversation.reviews.select_related("reviewer").order_by("created_at"),
            "criteria": dataset.criteria,
            "chat_messages": message_segments(conversation),
            "error": error,
            "is_admin": True,
        },
    )


# -- stats, duplicates, bulk ------------------------------------------------------------------


def review_stats(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    return render(
        request,
        "curation/stats.html",
        {"dataset": dataset, "is_admin": True, **review_stats_for(dataset)},
    )


def review_clusters(request: HttpRequest, slug: str) -> HttpResponse:
    """Near-duplicate clusters, largest first, with "keep one" for admins."""
    dataset = get_dataset_for_user(request, slug)
    page = clusters_with_members(dataset=dataset, page=request.GET.get("page"))
    return render(
        request,
        "curation/review_clusters.html",
        {"dataset": dataset, "page": page, "is_admin": is_dataset_admin(dataset)},
    )


@require_POST
def review_keep_one(request: HttpRequest, slug: str, cluster: int) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    keep = cluster_member(
        dataset=dataset, cluster=cluster, conversation_id=parse_int(request.POST.get("keep", ""))
    )
    if keep is None:
        raise Http404("That conversation is not in this cluster.")
    rejected = keep_one(dataset=dataset, cluster=cluster, keep=keep, user=request.user)
    messages.success(
        request, f"Kept conversation {keep.pk}; rejected {rejected} near-duplicate(s)."
    )
    return redirect(
        f"{reverse('review_clusters', args=[dataset.slug])}?page={parse_int(request.POST.get('page', '')) or 1}"
    )


def review_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    """Approve or reject every conversation in review that matches the list's filter, after
    a confirmation page that shows how many that is."""
    dataset = get_dataset_for_user(request, slug, admin=True)
    params = request.POST if request.method == "POST" else request.GET
    chosen = ConversationFilter.from_params(params)
    # Rows ticked in the list narrow the filter to them, unless "select all N matching".
    selected = (
        []
        if params.get("all_matching")
        else sorted({int(v) for v in params.getlist("id") if v.isdigit() and len(v) < 19})[
            :MAX_SELECTED
        ]
    )
    matching = bulk_targets(dataset=dataset, chosen=chosen, selected=selected)
    description = chosen.describe()
    if selected:
        description = f"{len(selected)} selected conversation(s) ({description})"
    if request.method == "POST" and request.POST.get("decision") in Decision.values:
        decision = request.POST["decision"]
        changed = decide_conversations(
            dataset=dataset,
            conversations=matching,
            decision=decision,
            user=request.user,
            description=description,
        )
        label = "Approved" if decision == Decision.APPROVE else "Rejected"
        messages.success(request, f"{label} {changed} conversation(s).")
        return redirect(f"{reverse('conversation_list', args=[dataset.slug])}?{chosen.query()}")
    return render(
        request,
        "curation/review_bulk.html",
        {
            "dataset": dataset,
            "is_admin": True,
            "count": matching.count(),
            "filter": chosen,
            "summary": chosen.summary(),
            "selected": selected,
            "hidden": [*chosen.filters.items(), *(("id", pk) for pk in selected)],
            "decision": params.get("decision", ""),
            "flag_labels": FLAG_LABELS,
        },
    )
