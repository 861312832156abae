"""Reviewers' corrections of PII findings: keep or redact a value, redact what a detector
missed, and rescan a message after an edit."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from curation.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    FindingDecision,
    FindingSource,
    PiiFinding,
)
from curation.pii.engine import get_engine
from curation.pii.redaction import iter_text_fields
from curation.selectors.redaction import pii_config_for, pii_messages, redacted_messages


class PiiDecisionError(ValueError):
    """A PII decision that may not be made; the message is shown to the person."""


def set_finding_decision(*, finding: PiiFinding, decision: str, user: Any) -> PiiFinding:
    """Decide on a finding and on every other finding of the same value in the conversation.

    A value is redacted everywhere or nowhere (see `other_occurrences`), so one decision
    covers all its occurrences. Keeping a value un-redacted on an approved conversation
    would change what leaves the system after the review: it is refused, as for edits.
    """
    if decision not in FindingDecision.values:
        raise ValueError(f"unknown decision {decision!r}")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=finding.conversation_id)
        if decision == FindingDecision.KEEP and conversation.status == ConversationStatus.APPROVED:
            raise PiiDecisionError(
                "This conversation is already approved: its redacted text is what gets "
                "exported. Reject or re-review it before keeping personal data in it."
            )
        texts = {(i, f): t for i, f, t in iter_text_fields(conversation.current_messages())}

        def value_of(item: PiiFinding) -> str:
            text = texts.get((item.message_index, item.field), "")
            return " ".join(text[item.start : item.end].split()).casefold()

        value = value_of(finding)
        same = [
            other
            for other in conversation.findings.all()
            if other.pk == finding.pk or (value and value_of(other) == value)
        ]
        previous = finding.decision
        now = timezone.now()
        PiiFinding.objects.filter(pk__in=[other.pk for other in same]).update(
            decision=decision, decided_by=user, decided_at=now
        )
        finding.decision, finding.decided_by, finding.decided_at = decision, user, now
        refresh_redacted(conversation)
        AuditEvent.record(
            actor=user,
            action="pii.decision",
            obj=finding,
            dataset=conversation.dataset,
            conversation=conversation.pk,
            entity_type=finding.entity_type,
            before=previous,
            after=decision,
            occurrences=len(same),
        )
    return finding


def add_reviewer_findings(
    *,
    conversation: Conversation,
    text: str,
    entity_type: str,
    user: Any,
    message_index: int | None = None,
    field: str | None = None,
    start: int | None = None,
) -> list[PiiFinding]:
    """Redact text a detector missed: the exact span given, or every occurrence of `text`."""
    text = text.strip() if start is None else text
    if not text:
        raise ValueError("Select or type the text to redact.")
    entity_type = (entity_type or "PII").strip().upper().replace(" ", "_")[:64]
    spans: list[tuple[int, str, int]] = []
    for index, place, value in iter_text_fields(pii_messages(conversation)):
        if message_index is not None and (index != message_index or place != field):
            continue
        if start is not None:
            if value[start : start + len(text)] != text:
                raise ValueError(
                    "The selected text is not at that place in the message; reload and try again."
                )
            spans.append((index, place, start))
            continue
        position = value.find(text)
        while position != -1:
            spans.append((index, place, position))
            position = value.find(text, position + len(text))
    if not spans:
        raise ValueError(f"{text!r} does not occur in this conversation.")
    now = timezone.now()
    with transaction.atomic():
        created = PiiFinding.objects.bulk_create(
            PiiFinding(
                conversation=conversation,
                message_index=index,
                field=place,
                start=offset,
                end=offset + len(text),
                entity_type=entity_type,
                score=1.0,
                source=FindingSource.REVIEWER,
                decision=FindingDecision.REDACT,
                decided_by=user,
                decided_at=now,
            )
            for index, place, offset in spans
        )
        refresh_redacted(conversation)
        AuditEvent.record(
            actor=user,
            action="pii.add",
            obj=conversation,
            dataset=conversation.dataset,
            entity_type=entity_type,
            occurrences=len(created),
        )
    return created


def rescan_messages(*, conversation: Conversation, message_indexes: list[int]) -> None:
    """Re-run detection on messages whose text changed (a reviewer's edit).

    Findings on those messages pointed into the old text, so all of them go, reviewers'
    included; the reviewer's own redactions on the edited text are made again if needed.
    """
    indexes = set(message_indexes)
    fields = [(i, f, t) for i, f, t in iter_text_fields(pii_messages(conversation)) if i in indexes]
    results = get_engine().analyze_texts(
        [text for _, _, text in fields], pii_config_for(conversation.dataset)
    )
    with transaction.atomic():
        PiiFinding.objects.filter(conversation=conversation, message_index__in=indexes).delete()
        PiiFinding.objects.bulk_create(
            PiiFinding(
                conversation=conversation,
                message_index=index,
                field=field,
                start=d.start,
                end=d.end,
                entity_type=d.entity_type,
                score=round(float(d.score), 4),
                source=FindingSource.DETECTOR,
            )
            for (index, field, _), detections in zip(fields, results, strict=True)
            for d in detections
        )
        refresh_redacted(conversation)


def refresh_redacted(conversation: Conversation) -> None:
    conversation.redacted = redacted_messages(conversation)
    Conversation.objects.filter(pk=conversation.pk).update(
        redacted=conversation.redacted, updated_at=timezone.now()
    )
