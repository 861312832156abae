"""What the review and pairwise pages show of a conversation's preference pair."""

from __future__ import annotations

from typing import Any

from curation.models import Conversation, Dataset, PairChoice, PreferencePair
from curation.selectors.redaction import pii_messages, redacted_pair
from curation.texts import message_text


def pair_of(conversation: Conversation) -> PreferencePair | None:
    try:
        return conversation.preference
    except PreferencePair.DoesNotExist:
        return None


def pair_for_display(conversation: Conversation, *, redacted: bool) -> dict[str, Any] | None:
    """What the review page shows of a pair: chosen and rejected replies (redacted or as
    they stand, with edits), where the pair came from and whether it is exported."""
    pair = pair_of(conversation)
    if pair is None:
        return None
    if redacted or not conversation.original:
        _, chosen, rejected = redacted_pair(conversation)
    else:
        _, chosen, rejected = pair.split(pii_messages(conversation))
    return {
        "pair": pair,
        "chosen": [_shown(message) for message in chosen],
        "rejected": [_shown(message) for message in rejected],
        "ranked": pair.choice in (PairChoice.A, PairChoice.B),
    }


def _shown(message: dict[str, Any]) -> dict[str, str]:
    return {"role": str(message.get("role", "")), "text": message_text(message)}


# Conflicts the adjudication page lists at once, oldest first.
CONFLICTS_SHOWN = 50


def pairwise_conflicts(dataset: Dataset) -> list[dict[str, Any]]:
    """Pairs whose pairwise reviewers disagree, each with its sides as exported."""
    conflicts = (
        PreferencePair.objects.filter(conversation__dataset=dataset, choice=PairChoice.CONFLICT)
        .select_related("conversation__dataset")
        .prefetch_related("verdicts__reviewer")
        .order_by("id")[:CONFLICTS_SHOWN]
    )
    return [
        {"pair": pair, "sides": pair_for_display(pair.conversation, redacted=True)}
        for pair in conflicts
    ]
