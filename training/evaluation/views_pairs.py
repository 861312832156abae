"""Turning a comparison's blind verdicts into preference pairs (one POST, dataset admins)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from training.evaluation.services.preference_pairs import pairs_from_verdicts
from training.permissions import get_comparison_for_user


@require_POST
def eval_comparison_pairs(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    comparison = get_comparison_for_user(request, slug, comparison_id, admin=True)
    result = pairs_from_verdicts(comparison=comparison, user=request.user)
    messages.success(
        request,
        f"{result['created']} preference pairs made from the verdicts "
        f"({result['existing']} already there, {result['skipped']} ties, both-bad or "
        "disagreements left out); they wait for review.",
    )
    return redirect(comparison)
