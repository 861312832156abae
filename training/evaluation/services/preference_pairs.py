"""Blind side-by-side verdicts become preference pairs of the dataset, in one action.

A pair is made where people agree that one side is better (every verdict on the pair names
the same winner): the example's prompt, the winner's output as the chosen reply and the
other's as the rejected one. It becomes a conversation of the dataset carrying the pair
(source "evaluation"), scanned for PII and reviewed like an imported pair. Ties, "both bad"
and disagreements make no pair. Running it again makes nothing twice (the dedup key).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction

from curation.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    PairChoice,
    PairSource,
    PreferencePair,
)
from curation.services.pii.runs import start_detection
from curation.token_count import count_conversations
from curation.validation import Normalized
from training.evaluation.models import Comparison, EvalExample, HumanVerdict, Winner


def pairs_from_verdicts(*, comparison: Comparison, user: Any) -> dict[str, int]:
    """{"created": N, "existing": N, "skipped": N} for the comparison's judged pairs."""
    winners: dict[str, set[str]] = defaultdict(set)
    for key, winner in HumanVerdict.objects.filter(pair__comparison=comparison).values_list(
        "pair__key", "winner"
    ):
        winners[key].add(winner)
    agreed = {
        key: next(iter(found))
        for key, found in winners.items()
        if len(found) == 1 and next(iter(found)) in (Winner.A, Winner.B)
    }
    outputs = {
        (example.run_id, example.key): example
        for example in EvalExample.objects.filter(
            run_id__in=[comparison.run_a_id, comparison.run_b_id], key__in=list(agreed)
        )
    }
    dataset = comparison.dataset
    status = (
        ConversationStatus.PENDING_PII if dataset.pii_detection else ConversationStatus.IN_REVIEW
    )
    created = existing = 0
    for key, winner in sorted(agreed.items()):
        a = outputs.get((comparison.run_a_id, key))
        b = outputs.get((comparison.run_b_id, key))
        if a is None or b is None or not a.output or not b.output:
            continue
        chosen, rejected = (a.output, b.output) if winner == Winner.A else (b.output, a.output)
        record = Normalized(messages=[*a.prompt, _reply(chosen)], tools=a.tools or None)
        record.alternative = [_reply(rejected)]
        [(tokens, assistant_tokens)] = count_conversations(
            [(record.messages, record.tools)], threads=False
        )
        with transaction.atomic():
            conversation, made = Conversation.objects.get_or_create(
                dataset=dataset,
                content_hash=record.content_hash,
                defaults={
                    "original": record.messages,
                    "tools": record.tools,
                    "status": status,
                    "message_count": len(record.messages),
                    "token_count": tokens,
                    "assistant_tokens": assistant_tokens,
                    "metadata": {"comparison": comparison.pk, "example": key},
                },
            )
            if made:
                PreferencePair.objects.create(
                    conversation=conversation,
                    reply_start=len(a.prompt),
                    alternative=record.alternative,
                    choice=PairChoice.A,
                    source=PairSource.EVALUATION,
                    created_by=user if getattr(user, "is_authenticated", False) else None,
                )
        created += made
        existing += not made
    result = {
        "created": created,
        "existing": existing,
        "skipped": len(winners) - created - existing,
    }
    AuditEvent.record(
        actor=user, action="pair.from_verdicts", obj=comparison, dataset=dataset, **result
    )
    if created and dataset.pii_detection:
        start_detection(dataset=dataset)
    return result


def _reply(output: dict[str, Any]) -> dict[str, Any]:
    """An output as a stored assistant message (only the keys a chat message has)."""
    reply = {"role": "assistant", "content": output.get("content")}
    if output.get("tool_calls"):
        reply["tool_calls"] = output["tool_calls"]
    return reply
