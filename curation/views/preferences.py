"""Pages for preference pairs: the pair actions of the review page, pairwise review and its
adjudication."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation.params import parse_int
from curation.permissions import (
    get_conversation_for_user,
    get_dataset_for_user,
    get_pair_for_user,
    is_dataset_admin,
)
from curation.selectors.preferences import pair_of, pairwise_conflicts
from curation.selectors.review_queue import can_edit
from curation.services import pairwise, preference_reviews


@require_POST
def review_pair(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    """Swap chosen and rejected, untick or tick the conversation's pair."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    if not can_edit(conversation, request.user, is_admin=is_dataset_admin(conversation.dataset)):
        raise PermissionDenied("This conversation cannot be changed by you now.")
    pair = pair_of(conversation)
    if pair is None:
        raise Http404("This conversation has no preference pair.")
    try:
        preference_reviews.pair_update(
            pair=pair, action=request.POST.get("action", ""), user=request.user
        )
    except preference_reviews.PairError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Saved the pair.")
    return redirect("review_conversation", slug=slug, conversation_id=conversation.pk)


def pairwise_next(request: HttpRequest, slug: str) -> HttpResponse:
    """The next unranked pair for this reviewer, side by side (keys 1 2 3 4 S)."""
    dataset = get_dataset_for_user(request, slug)
    pair = pairwise.pairwise_claim_next(dataset=dataset, reviewer=request.user)
    context = {
        "dataset": dataset,
        "pair": pair,
        "sides": pairwise.pairwise_sides(pair, request.user) if pair else None,
        "overview": pairwise.pairwise_overview(dataset),
        "is_admin": is_dataset_admin(dataset),
    }
    return render(request, "curation/pairwise.html", context)


@require_POST
def pairwise_decide(request: HttpRequest, slug: str, pair_id: int) -> HttpResponse:
    pair = get_pair_for_user(request, slug, pair_id)
    try:
        pairwise.pairwise_submit(
            pair=pair, reviewer=request.user, choice=request.POST.get("choice", "")
        )
    except pairwise.PairwiseError as error:
        messages.error(request, str(error))
    return redirect("pairwise_next", slug=slug)


def pairwise_adjudication(request: HttpRequest, slug: str) -> HttpResponse:
    """Pairs whose reviewers disagree, with their verdicts; an admin settles each."""
    dataset = get_dataset_for_user(request, slug, admin=True)
    if request.method == "POST":
        pair = get_pair_for_user(
            request, slug, parse_int(request.POST.get("pair")) or 0, admin=True
        )
        try:
            pairwise.pairwise_adjudicate(
                pair=pair, user=request.user, choice=request.POST.get("choice", "")
            )
        except pairwise.PairwiseError as error:
            messages.error(request, str(error))
        return redirect("pairwise_adjudication", slug=dataset.slug)
    rows = pairwise_conflicts(dataset)
    return render(
        request, "curation/pairwise_adjudication.html", {"dataset": dataset, "rows": rows}
    )
