"""Review pages: the queue, the review page, edits, adjudication, stats, duplicates, bulk."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Min, Q, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from curation.models import (
    FLAG_LABELS,
    SCORE_RANGE,
    Adjudication,
    AdjudicationStatus,
    Conversation,
    ConversationStatus,
    Dataset,
    Decision,
    Review,
)
from curation.params import parse_float, parse_int, parse_ints
from curation.permissions import get_conversation_for_user, get_dataset_for_user, is_dataset_admin
from curation.services import preference_reviews
from curation.services import reviews as service
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


def _criteria(dataset: Dataset, selected: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**criterion, "selected": selected.get(criterion["key"])} for criterion in dataset.criteria
    ]


def _panel_context(
    request: HttpRequest,
    dataset: Dataset,
    conversation: Conversation | None,
    *,
    error: str = "",
    posted: dict[str, Any] | None = None,
    claim: bool = True,
    decided: Collection[int] = (),
    confirmation: str = "",
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "dataset": dataset,
        "conversation": conversation,
        "is_admin": is_dataset_admin(dataset),
        "score_range": SCORE_RANGE,
        "error": error,
        "confirmation": confirmation,
        "position": service.queue_position(dataset=dataset, reviewer=request.user, exclude=decided),
    }
    if conversation is None:
        context["not_offered"] = service.queue_explanation(dataset=dataset, reviewer=request.user)
        context["last_reviewed_id"] = (
            Review.objects.filter(dataset=dataset, reviewer=request.user)
            .order_by("-id")
            .values_list("conversation_id", flat=True)
            .first()
        )
        return context
    user = request.user
    # current_messages() and the chat both read the revisions: load them once.
    prefetch_related_objects([conversation], "revisions")
    my_review = Review.objects.filter(conversation=conversation, reviewer=user).first()
    adjudication = Adjudication.objects.filter(conversation=conversation).first()
    final = adjudication is not None and adjudication.status == AdjudicationStatus.RESOLVED
    needs_me = (
        my_review is None
        and conversation.status == ConversationStatus.IN_REVIEW
        and conversation.review_count < dataset.reviews_needed
    )
    if needs_me and claim and conversation.leased_to_id != user.pk:
        service.claim(conversation=conversation, reviewer=user)
    leased_other = service.leased_by_other(conversation, user)
    can_review = not final and (
        (my_review is not None and conversation.status in service.REVIEWABLE)
        or (needs_me and not leased_other)
    )
    redacted = request.GET.get("view") == "redacted"
    previous, following = service.neighbours(
        dataset=dataset, reviewer=user, conversation=conversation
    )
    selected = posted if posted is not None else (my_review.scores if my_review else {})
    context.update(
        {
            "my_review": my_review,
            "comment": (posted or {}).get("comment", my_review.comment if my_review else ""),
            "adjudication": adjudication,
            "leased_other": leased_other,
            "can_review": can_review,
            "can_edit": not redacted
            and service.can_edit(conversation, user, is_admin=context["is_admin"]),
            "criteria": _criteria(dataset, selected),
            "chat_messages": service.message_segments(conversation, redacted=redacted),
            "preference": preference_reviews.pair_for_display(conversation, redacted=redacted),
            "redacted_view": redacted,
            "pii_count": conversation.findings.count(),
            "previous_id": previous,
            "next_id": following,
            "opened_at": f"{time.time():.3f}",
            "metadata": {
                key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                for key, value in (conversation.metadata or {}).items()
            },
            "tools_json": json.dumps(conversation.tools, indent=2, ensure_ascii=False)
            if conversation.tools
            else "",
        }
    )
    return context


def _partial(request: HttpRequest) -> bool:
    # A history restore (back button after a cache miss) needs the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _panel_response(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
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


def review_start(request: HttpRequest, slug: str) -> HttpResponse:
    """The next conversation that needs me. `?exclude=ID` prefetches the one after ID."""
    dataset = get_dataset_for_user(request, slug)
    exclude = parse_ints(request.GET.getlist("exclude"), limit=5)
    conversation = service.claim_next(dataset=dataset, reviewer=request.user, exclude=exclude)
    if exclude and _partial(request):
        if conversation is None:
            return HttpResponse(status=204)
        # Rendered while the one on screen is still open; its decision will land first.
        context = _panel_context(request, dataset, conversation, decided=exclude)
        return render(request, PANEL, context)
    if conversation is not None and not _partial(request):
        return redirect("review_conversation", slug=dataset.slug, conversation_id=conversation.pk)
    return _panel_response(request, _panel_context(request, dataset, conversation))


def review_conversation(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, slug, conversation_id)
    dataset = conversation.dataset
    if request.method == "POST":
        return _decide(request, dataset, conversation)
    if _partial(request) and request.GET.get("fragment") == "chat":
        context = _panel_context(request, dataset, conversation, claim=False)
        return render(request, "partials/review_chat.html", context)
    return _panel_response(request, _panel_context(request, dataset, conversation))


def review_step(
    request: HttpRequest, slug: str, conversation_id: int, direction: str
) -> HttpResponse:
    """J/K: the conversation before or after this one in my review history, worked out when
    asked (a prefetched page cannot know a decision made after it was rendered). Past the
    newest, "next" is the queue."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    dataset = conversation.dataset
    previous, following = service.neighbours(
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
    return _panel_response(request, _panel_context(request, dataset, step_to))


def _decide(request: HttpRequest, dataset: Dataset, conversation: Conversation) -> HttpResponse:
    action = request.POST.get("action", "")
    user = request.user
    if action == "skip":
        service.skip(conversation=conversation, reviewer=user)
    else:
        raw = {
            criterion["key"]: request.POST.get(f"score_{criterion['key']}", "")
            for criterion in dataset.criteria
        }
        try:
            service.submit_review(
                conversation=conversation,
                reviewer=user,
                decision=action,
                scores=raw,
                comment=request.POST.get("comment", ""),
                seconds=_seconds(request),
            )
        except service.ReviewError as error:
            posted = {key: int(value) for key, value in raw.items() if value.isdigit()}
            posted["comment"] = request.POST.get("comment", "")
            context = _panel_context(
                request, dataset, conversation, error=str(error), posted=posted
            )
            return _panel_response(request, context)
    if request.htmx and request.headers.get("X-Curator-Prefetched"):
        # The browser already shows the prefetched next conversation (and the confirmation).
        return HttpResponse(status=204)
    done = f"{DONE_LABELS.get(action, 'Saved')} conversation {conversation.pk}."
    if request.htmx:
        following = service.claim_next(dataset=dataset, reviewer=user)
        context = _panel_context(request, dataset, following, confirmation=done)
        return _panel_response(request, context)
    messages.success(request, done)
    return redirect("review_start", slug=dataset.slug)


def review_edit(request: HttpRequest, slug: str, conversation_id: int, index: int) -> HttpResponse:
    """Edit one assistant message inline; saved as a revision, the original kept."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    dataset = conversation.dataset
    if not service.can_edit(conversation, request.user, is_admin=is_dataset_admin(dataset)):
        raise PermissionDenied("This conversation cannot be edited by you now.")
    current = conversation.current_messages()
    if not 0 <= index < len(current) or current[index].get("role") != "assistant":
        raise Http404("No such assistant message.")
    error = ""
    text = message_text(current[index])
    if request.method == "POST":
        text = request.POST.get("text", "")
        try:
            service.edit_message(
                conversation=conversation, user=request.user, message_index=index, text=text
            )
        except service.ReviewError as problem:
            error = str(problem)
        else:
            if request.htmx:
                context = _panel_context(request, dataset, conversation, claim=False)
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
    items = Adjudication.objects.filter(dataset=dataset).select_related(
        "conversation", "resolved_by"
    )
    items = items.filter(
        status=AdjudicationStatus.RESOLVED if show == "resolved" else AdjudicationStatus.OPEN
    )
    if show == "resolved":
        items = items.order_by("-resolved_at", "-id")
    page = Paginator(items, 50).get_page(request.GET.get("page"))
    tallies = {
        row["conversation_id"]: row
        for row in Review.objects.filter(conversation_id__in=[a.conversation_id for a in page])
        .values("conversation_id")
        .annotate(
            approvals=Count("id", filter=Q(decision=Decision.APPROVE)),
            rejections=Count("id", filter=Q(decision=Decision.REJECT)),
        )
    }
    for item in page:
        item.conversation.dataset = dataset
        item.tally = tallies.get(item.conversation_id, {})
    return render(
        request,
        "curation/adjudication_list.html",
        {"dataset": dataset, "page": page, "show": show, "is_admin": True, "query": f"show={show}"},
    )


def adjudication_detail(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    conversation = get_conversation_for_user(request, slug, conversation_id, admin=True)
    dataset = conversation.dataset
    adjudication = get_object_or_404(Adjudication, conversation=conversation)
    error = ""
    if request.method == "POST":
        try:
            service.adjudicate(
                adjudication=adjudication,
                admin=request.user,
                decision=request.POST.get("decision", ""),
                comment=request.POST.get("comment", ""),
            )
        except service.ReviewError as problem:
            error = str(problem)
        else:
            messages.success(
                request,
                f"Decided conversation {conversation.pk}: {adjudication.get_decision_display().lower()}.",
            )
            following = (
                Adjudication.objects.filter(dataset=dataset, status=AdjudicationStatus.OPEN)
                .order_by("id")
                .first()
            )
            if following is not None:
                return redirect(
                    "adjudication_detail",
                    slug=dataset.slug,
                    conversation_id=following.conversation_id,
                )
            return redirect("adjudication_list", slug=dataset.slug)
    reviews = conversation.reviews.select_related("reviewer").order_by("created_at")
    return render(
        request,
        "curation/adjudication_detail.html",
        {
            "dataset": dataset,
            "conversation": conversation,
            "adjudication": adjudication,
            "reviews": reviews,
            "criteria": dataset.criteria,
            "chat_messages": service.message_segments(conversation),
            "error": error,
            "is_admin": True,
        },
    )


# -- stats, duplicates, bulk ------------------------------------------------------------------


def review_stats(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    histograms = service.score_histograms(
        dataset, sample=service.SCORE_SAMPLE if service.is_large_dataset(dataset) else None
    )
    return render(
        request,
        "curation/stats.html",
        {
            "dataset": dataset,
            "is_admin": True,
            "progress": service.review_progress(dataset),
            "agreement": service.agreement(dataset),
            "reviewers": service.reviewer_stats(dataset),
            "histograms": histograms,
            "score_labels": list(SCORE_RANGE),
            "chart_scores": {
                "labels": [str(n) for n in SCORE_RANGE],
                "datasets": [{"label": h["name"], "data": h["counts"]} for h in histograms],
            },
        },
    )


def review_clusters(request: HttpRequest, slug: str) -> HttpResponse:
    """Near-duplicate clusters, largest first, with "keep one" for admins."""
    dataset = get_dataset_for_user(request, slug)
    clusters = (
        dataset.conversations.in_cluster()
        .values("near_dup_cluster")
        .annotate(size=Count("id"), first=Min("id"))
        .order_by("-size", "near_dup_cluster")
    )
    page = Paginator(clusters, 20).get_page(request.GET.get("page"))
    ids = [row["near_dup_cluster"] for row in page]
    members: dict[int, list[Conversation]] = {}
    for conversation in (
        dataset.conversations.filter(near_dup_cluster__in=ids)
        .only(
            "id",
            "original",
            "redacted",
            "status",
            "flags",
            "quality_score",
            "token_count",
            "near_dup_cluster",
            "dataset_id",
        )
        .order_by("near_dup_cluster", "id")
    ):
        conversation.dataset = dataset
        group = members.setdefault(conversation.near_dup_cluster, [])
        if len(group) < 8:
            group.append(conversation)
    for row in page:
        row["members"] = members.get(row["near_dup_cluster"], [])
    return render(
        request,
        "curation/review_clusters.html",
        {"dataset": dataset, "page": page, "is_admin": is_dataset_admin(dataset)},
    )


@require_POST
def review_keep_one(request: HttpRequest, slug: str, cluster: int) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    keep = dataset.conversations.filter(
        pk=parse_int(request.POST.get("keep", "")) or 0, near_dup_cluster=cluster
    ).first()
    if keep is None:
        raise Http404("That conversation is not in this cluster.")
    rejected = service.keep_one(dataset=dataset, cluster=cluster, keep=keep, user=request.user)
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
    chosen = service.ConversationFilter.from_params(params)
    matching = chosen.apply(dataset.conversations.all()).filter(status=ConversationStatus.IN_REVIEW)
    # Rows ticked in the list narrow the filter to them, unless "select all N matching".
    selected = (
        []
        if params.get("all_matching")
        else sorted({int(v) for v in params.getlist("id") if v.isdigit() and len(v) < 19})[
            :MAX_SELECTED
        ]
    )
    if selected:
        matching = matching.filter(pk__in=selected)
    description = chosen.describe()
    if selected:
        description = f"{len(selected)} selected conversation(s) ({description})"
    if request.method == "POST" and request.POST.get("decision") in Decision.values:
        decision = request.POST["decision"]
        changed = service.decide_conversations(
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
