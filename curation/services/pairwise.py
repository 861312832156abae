"""Pairwise review: unranked pairs shown side by side in an order drawn per pair and reviewer.

The queue follows the review queue's discipline: a pair is leased to one reviewer at a time
(claimed with SELECT … SKIP LOCKED and a conditional UPDATE), each reviewer judges a pair
once, and a pair is settled when it has the dataset's number of reviews: the agreed verdict
ranks it, a disagreement sends it to adjudication by a dataset admin.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from curation.models import (
    AuditEvent,
    Dataset,
    PairChoice,
    PairVerdict,
    PairwiseVerdict,
    PreferencePair,
)
from curation.selectors.redaction import redacted_pair

CHOICES = ("left", "right", "tie", "both_bad", "skip")
# Keyed by a verdict's value, as posted and as stored.
SETTLED: dict[str, PairChoice] = {
    PairVerdict.A: PairChoice.A,
    PairVerdict.B: PairChoice.B,
    PairVerdict.TIE: PairChoice.TIE,
    PairVerdict.BOTH_BAD: PairChoice.BOTH_BAD,
}


class PairwiseError(ValueError):
    """A verdict that may not be given; the message is shown to the person."""


def _open_for(dataset: Dataset, reviewer: Any, now: Any) -> QuerySet[PreferencePair]:
    return (
        PreferencePair.objects.filter(
            conversation__dataset=dataset,
            choice=PairChoice.UNRANKED,
            active=True,
            verdict_count__lt=dataset.reviews_needed,
        )
        .filter(Q(leased_to__isnull=True) | Q(lease_expires_at__lt=now) | Q(leased_to=reviewer))
        .exclude(Exists(PairwiseVerdict.objects.filter(pair=OuterRef("pk"), reviewer=reviewer)))
    )


def pairwise_claim_next(*, dataset: Dataset, reviewer: Any) -> PreferencePair | None:
    """Lease the next unranked pair this reviewer has not judged (their live lease first)."""
    now = timezone.now()
    with transaction.atomic():
        candidates = _open_for(dataset, reviewer, now)
        chosen = (
            candidates.filter(leased_to=reviewer, lease_expires_at__gte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .only("id")
            .first()
        ) or (
            candidates.order_by("id")
            .select_for_update(skip_locked=True, of=("self",))
            .only("id")
            .first()
        )
        PreferencePair.objects.filter(conversation__dataset=dataset, leased_to=reviewer).exclude(
            pk__in=[chosen.pk] if chosen else []
        ).update(leased_to=None, lease_expires_at=None)
        if chosen is None:
            return None
        PreferencePair.objects.filter(pk=chosen.pk).update(
            leased_to=reviewer,
            lease_expires_at=now + timedelta(seconds=settings.CURATOR_REVIEW_LEASE_SECONDS),
        )
    return PreferencePair.objects.select_related("conversation__dataset").get(pk=chosen.pk)


def left_is_a(pair: PreferencePair, reviewer: Any) -> bool:
    """The side order this reviewer sees, drawn from the pair and the reviewer alone (a
    reload shows the same order; another reviewer may see the other)."""
    return hashlib.sha256(f"{pair.pk}:{reviewer.pk}".encode()).digest()[0] % 2 == 0


def pairwise_sides(pair: PreferencePair, reviewer: Any) -> dict[str, Any]:
    """The redacted prompt and the two replies in this reviewer's order (never named)."""
    prompt, reply_a, reply_b = redacted_pair(pair.conversation)
    left, right = (reply_a, reply_b) if left_is_a(pair, reviewer) else (reply_b, reply_a)
    return {"prompt": prompt, "left": left, "right": right}


def pairwise_submit(*, pair: PreferencePair, reviewer: Any, choice: str) -> PairwiseVerdict:
    if choice not in CHOICES:
        raise PairwiseError(f"Unknown choice {choice!r}.")
    if pair.choice != PairChoice.UNRANKED:
        raise PairwiseError("This pair is already settled.")
    on_left_a = left_is_a(pair, reviewer)
    verdict = {
        "left": PairVerdict.A if on_left_a else PairVerdict.B,
        "right": PairVerdict.B if on_left_a else PairVerdict.A,
        "tie": PairVerdict.TIE,
        "both_bad": PairVerdict.BOTH_BAD,
        "skip": PairVerdict.SKIP,
    }[choice]
    dataset = pair.conversation.dataset
    try:
        with transaction.atomic():
            row = PairwiseVerdict.objects.create(
                pair=pair, reviewer=reviewer, verdict=verdict, left_is_a=on_left_a
            )
            counted = 0 if verdict == PairVerdict.SKIP else 1
            PreferencePair.objects.filter(pk=pair.pk).update(
                verdict_count=F("verdict_count") + counted, leased_to=None, lease_expires_at=None
            )
            AuditEvent.record(
                actor=reviewer,
                action="pair.verdict",
                obj=pair.conversation,
                dataset=dataset,
                verdict=verdict,
            )
            _settle(pair.pk, dataset)
    except IntegrityError:
        raise PairwiseError("You already judged this pair.") from None
    return row


def _settle(pair_id: int, dataset: Dataset) -> None:
    pair = PreferencePair.objects.select_for_update().get(pk=pair_id)
    verdicts = list(
        pair.verdicts.exclude(verdict=PairVerdict.SKIP).values_list("verdict", flat=True)
    )
    if len(verdicts) < dataset.reviews_needed or pair.choice != PairChoice.UNRANKED:
        return
    found = set(verdicts)
    pair.choice = SETTLED[found.pop()] if len(found) == 1 else PairChoice.CONFLICT
    pair.save(update_fields=["choice", "updated_at"])


def pairwise_adjudicate(*, pair: PreferencePair, user: Any, choice: str) -> PreferencePair:
    """A dataset admin settles a pair whose reviewers disagree (a, b, tie or both_bad)."""
    if pair.choice != PairChoice.CONFLICT:
        raise PairwiseError("Only pairs whose reviewers disagree are adjudicated.")
    if choice not in SETTLED:
        raise PairwiseError(f"Unknown choice {choice!r}.")
    with transaction.atomic():
        pair.choice = SETTLED[choice]
        pair.save(update_fields=["choice", "updated_at"])
        AuditEvent.record(
            actor=user,
            action="pair.adjudicate",
            obj=pair.conversation,
            dataset=pair.conversation.dataset,
            choice=pair.choice,
        )
    return pair


def pairwise_overview(dataset: Dataset) -> dict[str, Any]:
    """Waiting, settled and disputed pairs, and how often reviewers of the same pair agree."""
    pairs = PreferencePair.objects.filter(conversation__dataset=dataset, active=True)
    multi = (
        PairwiseVerdict.objects.filter(pair__conversation__dataset=dataset)
        .exclude(verdict=PairVerdict.SKIP)
        .values("pair")
        .annotate(n=Count("id"), kinds=Count("verdict", distinct=True))
        .filter(n__gte=2)
    )
    judged = len(multi)
    agreed = sum(1 for row in multi if row["kinds"] == 1)
    return {
        "waiting": pairs.filter(choice=PairChoice.UNRANKED).count(),
        "conflicts": pairs.filter(choice=PairChoice.CONFLICT).count(),
        "multi_reviewed": judged,
        "agreement": round(agreed / judged, 3) if judged else None,
    }
