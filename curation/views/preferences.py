"""Pages for preference pairs: the pair actions of the review page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from curation.permissions import get_conversation_for_user, is_dataset_admin
from curation.services import preference_reviews
from curation.services.reviews import can_edit


@require_POST
def review_pair(request: HttpRequest, slug: str, conversation_id: int) -> HttpResponse:
    """Swap chosen and rejected, untick or tick the conversation's pair."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    if not can_edit(conversation, request.user, is_admin=is_dataset_admin(conversation.dataset)):
        raise PermissionDenied("This conversation cannot be changed by you now.")
    pair = preference_reviews.pair_of(conversation)
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
