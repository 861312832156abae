"""The preference half of an import: pairs and labels for the rows a chunk inserted.

Rows go into the conversation table by COPY, which returns no ids; the pairs are then
created in the chunk's transaction from the rows of this batch with those content hashes.
Creating them ignores conflicts, so a retried chunk never makes a pair twice.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from curation.models import (
    Conversation,
    LabelledReply,
    PairChoice,
    PairSource,
    PreferencePair,
)
from curation.validation import Normalized


class PreferenceFacts(NamedTuple):
    reply_start: int
    alternative: list[dict[str, Any]] | None
    label: bool | None
    unranked: bool = False


def preference_facts(normalized: Normalized) -> PreferenceFacts | None:
    if normalized.reply_start is None:
        return None
    return PreferenceFacts(
        normalized.reply_start,
        normalized.alternative,
        normalized.label,
        getattr(normalized, "unranked", False),
    )


def insert_preferences(*, batch_id: int, preferences: dict[str, PreferenceFacts]) -> None:
    rows = Conversation.objects.filter(
        batch_id=batch_id, content_hash__in=list(preferences)
    ).values_list("id", "content_hash")
    pairs, labels = [], []
    for conversation_id, digest in rows:
        facts = preferences[digest]
        if facts.alternative is not None:
            pairs.append(
                PreferencePair(
                    conversation_id=conversation_id,
                    reply_start=facts.reply_start,
                    alternative=facts.alternative,
                    choice=PairChoice.UNRANKED if facts.unranked else PairChoice.A,
                    source=PairSource.IMPORTED,
                )
            )
        elif facts.label is not None:
            labels.append(
                LabelledReply(
                    conversation_id=conversation_id,
                    reply_start=facts.reply_start,
                    label=facts.label,
                )
            )
    PreferencePair.objects.bulk_create(pairs, ignore_conflicts=True)
    LabelledReply.objects.bulk_create(labels, ignore_conflicts=True)
