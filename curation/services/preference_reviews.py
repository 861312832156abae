"""Reviewing preference pairs: a reviewer's edit of the final reply records a pair, a
reviewer swaps chosen and rejected or unticks a pair (never exported, the conversation stays).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from curation.models import AuditEvent, Conversation, PairChoice, PairSource, PreferencePair
from curation.services.pii.findings import rescan_messages


class PairError(ValueError):
    """A change to a pair that may not be made; the message is shown to the person."""


def final_turn_start(messages: list[dict[str, Any]]) -> int:
    """Index of the first message of the final assistant turn (after the last user message)."""
    start = len(messages)
    while start and messages[start - 1].get("role") in ("assistant", "tool"):
        start -= 1
    return start


def pair_record_edit(*, conversation: Conversation, message_index: int, user: Any) -> None:
    """After a reviewer edited a message: when it is in the final assistant turn and the
    conversation has no pair yet, the original reply becomes the rejected side of a pair whose
    chosen side is the edited reply. Its text is scanned for PII like the conversation's."""
    original = conversation.original
    start = final_turn_start(original)
    if message_index < start or start == 0 or start >= len(original):
        return
    with transaction.atomic():
        pair, created = PreferencePair.objects.get_or_create(
            conversation=conversation,
            defaults={
                "reply_start": start,
                "alternative": original[start:],
                "choice": PairChoice.A,
                "source": PairSource.EDIT,
                "created_by": user if getattr(user, "is_authenticated", False) else None,
            },
        )
        if not created:
            return
        AuditEvent.record(
            actor=user,
            action="pair.create",
            obj=conversation,
            dataset=conversation.dataset,
            source=PairSource.EDIT,
        )
    conversation.preference = pair
    first = len(original)
    rescan_messages(
        conversation=conversation, message_indexes=list(range(first, first + len(pair.alternative)))
    )


def pair_update(*, pair: PreferencePair, action: str, user: Any) -> PreferencePair:
    """`swap` chosen and rejected, `untick` (leave the pair out of preference versions) or
    `tick` it again."""
    if action == "swap":
        if pair.choice not in (PairChoice.A, PairChoice.B):
            raise PairError("This pair has no choice yet: review it side by side first.")
        pair.choice = PairChoice.B if pair.choice == PairChoice.A else PairChoice.A
    elif action in ("untick", "tick"):
        pair.active = action == "tick"
    else:
        raise PairError(f"Unknown action {action!r}.")
    with transaction.atomic():
        pair.save(update_fields=["choice", "active", "updated_at"])
        AuditEvent.record(
            actor=user,
            action=f"pair.{action}",
            obj=pair.conversation,
            dataset=pair.conversation.dataset,
            choice=pair.choice,
            active=pair.active,
        )
    return pair
