"""Blind side-by-side review: the pair queue (leases, SKIP LOCKED) and people's verdicts.

The same discipline as the review queue: a reviewer is handed the next pair that still needs
verdicts, that they have neither judged nor skipped, and that no one else holds under a live
lease; the row is locked with SKIP LOCKED while it is leased, so two reviewers never get the
same pair at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, When
from django.utils import timezone

from curation.models import AuditEvent
from training.evaluation.models import (
    BlindPair,
    BlindSkip,
    Comparison,
    EvalExample,
    HumanChoice,
    HumanVerdict,
    Winner,
)

KEYS = {
    "1": HumanChoice.LEFT,
    "2": HumanChoice.RIGHT,
    "3": HumanChoice.TIE,
    "4": HumanChoice.BOTH_BAD,
}


def _open_for(comparison: Comparison, reviewer: Any, now: Any) -> QuerySet[BlindPair]:
    return (
        BlindPair.objects.filter(comparison=comparison, verdict_count__lt=comparison.reviews_needed)
        .filter(Q(leased_to__isnull=True) | Q(lease_expires_at__lt=now) | Q(leased_to=reviewer))
        .exclude(Exists(HumanVerdict.objects.filter(pair=OuterRef("pk"), reviewer=reviewer)))
        .exclude(Exists(BlindSkip.objects.filter(pair=OuterRef("pk"), reviewer=reviewer)))
    )


def claim_next_pair(*, comparison: Comparison, reviewer: Any) -> BlindPair | None:
    """Lease the next pair for this reviewer (one they already hold first), or None."""
    now = timezone.now()
    with transaction.atomic():
        candidates = _open_for(comparison, reviewer, now).order_by(
            # A pair I hold comes back first (a reload), then the rest in order.
            Case(When(leased_to=reviewer, then=0), default=1),
            "position",
        )
        chosen = candidates.select_for_update(skip_locked=True, of=("self",)).only("id").first()
        BlindPair.objects.filter(comparison=comparison, leased_to=reviewer).exclude(
            pk__in=[chosen.pk] if chosen else []
        ).update(leased_to=None, lease_expires_at=None)
        if chosen is None:
            return None
        BlindPair.objects.filter(pk=chosen.pk).update(
            leased_to=reviewer,
            lease_expires_at=now + timedelta(seconds=settings.CURATOR_REVIEW_LEASE_SECONDS),
        )
    return BlindPair.objects.select_related("comparison").get(pk=chosen.pk)


def _blind_message(message: Any, ids: dict[str, str]) -> Any:
    """A reply as a reviewer may see it: role, text and tool calls only, with every
    tool-call id renamed in order of appearance (``call_1``…), so no provider-shaped id,
    extra field or finish detail tells which model wrote it."""
    if not isinstance(message, dict):
        return message
    shown: dict[str, Any] = {"role": message.get("role", "assistant")}
    if "content" in message:
        shown["content"] = message.get("content")
    calls = []
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        original = str(call.get("id", ""))
        calls.append(
            {
                "id": ids.setdefault(original, f"call_{len(ids) + 1}"),
                "type": "function",
                "function": {
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                },
            }
        )
    if calls:
        shown["tool_calls"] = calls
    if message.get("tool_call_id"):
        shown["tool_call_id"] = ids.setdefault(str(message["tool_call_id"]), f"call_{len(ids) + 1}")
    if message.get("name") and message.get("role") == "tool":
        shown["name"] = message["name"]
    return shown


def pair_sides(pair: BlindPair) -> dict[str, Any]:
    """What the reviewer sees: the prompt, the reference and the two replies, left and right,
    normalised so that nothing but the replies' substance differs between the sides."""
    comparison = pair.comparison
    rows = {
        row.run_id: row
        for row in EvalExample.objects.filter(
            run_id__in=[comparison.run_a_id, comparison.run_b_id], key=pair.key
        )
    }
    a, b = rows.get(comparison.run_a_id), rows.get(comparison.run_b_id)
    left, right = (a, b) if pair.left_is_a else (b, a)
    prompt_ids: dict[str, str] = {}
    prompt = [_blind_message(m, prompt_ids) for m in (a.prompt if a else [])]
    # Each side numbers its own calls after the prompt's, so equal calls look equal.
    return {
        "prompt": prompt,
        "tools": a.tools if a else None,
        "reference": _blind_message(a.reference, dict(prompt_ids)) if a else None,
        "left": _blind_message(left.output, dict(prompt_ids)) if left else None,
        "right": _blind_message(right.output, dict(prompt_ids)) if right else None,
    }


def unblind(pair: BlindPair, choice: str) -> str:
    if choice == HumanChoice.TIE:
        return Winner.TIE
    if choice == HumanChoice.BOTH_BAD:
        return Winner.BOTH_BAD
    left_won = choice == HumanChoice.LEFT
    return Winner.A if left_won == pair.left_is_a else Winner.B


class VerdictError(ValueError):
    pass


def submit_verdict(
    *,
    pair: BlindPair,
    reviewer: Any,
    choice: str,
    criteria: dict[str, str] | None = None,
    seconds: float | None = None,
) -> HumanVerdict:
    """Record a reviewer's blind verdict: only on a pair they hold the lease on, and only
    while the pair still wants verdicts (``reviews_needed``)."""
    if choice not in HumanChoice.values:
        raise VerdictError(f"unknown choice {choice!r}")
    try:
        with transaction.atomic():
            locked = (
                BlindPair.objects.select_for_update()
                .select_related("comparison")
                .filter(pk=pair.pk)
                .first()
            )
            if locked is None:
                raise VerdictError("this pair no longer exists")
            if HumanVerdict.objects.filter(pair=locked, reviewer=reviewer).exists():
                raise VerdictError("you already judged this pair")
            if locked.verdict_count >= locked.comparison.reviews_needed:
                raise VerdictError(
                    f"this pair already has the {locked.comparison.reviews_needed} "
                    "verdict(s) it needs; yours was not recorded"
                )
            if (
                locked.leased_to_id != getattr(reviewer, "pk", None)
                or locked.lease_expires_at is None
                or locked.lease_expires_at < timezone.now()
            ):
                raise VerdictError(
                    "this pair is not yours to judge (your hold on it expired or it was never "
                    "handed to you); judge the pair the page shows now"
                )
            verdict = HumanVerdict.objects.create(
                pair=pair,
                reviewer=reviewer,
                choice=choice,
                winner=unblind(pair, choice),
                criteria=criteria or {},
                seconds=seconds,
            )
            BlindPair.objects.filter(pk=pair.pk).update(
                verdict_count=F("verdict_count") + 1, leased_to=None, lease_expires_at=None
            )
            AuditEvent.record(
                actor=reviewer,
                action="eval.blind_verdict",
                obj=pair,
                dataset=pair.comparison.dataset,
                choice=choice,
            )
    except IntegrityError:
        raise VerdictError("you already judged this pair") from None
    return verdict


def skip_pair(*, pair: BlindPair, reviewer: Any) -> None:
    with transaction.atomic():
        BlindSkip.objects.get_or_create(pair=pair, reviewer=reviewer)
        BlindPair.objects.filter(pk=pair.pk, leased_to=reviewer).update(
            leased_to=None, lease_expires_at=None
        )


def blind_progress(comparison: Comparison, reviewer: Any) -> dict[str, int]:
    pairs = BlindPair.objects.filter(comparison=comparison)
    return {
        "pairs": pairs.count(),
        "complete": pairs.filter(verdict_count__gte=comparison.reviews_needed).count(),
        "mine": HumanVerdict.objects.filter(pair__comparison=comparison, reviewer=reviewer).count(),
    }
