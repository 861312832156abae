"""The redacted view: what of a conversation may leave the system.

`redacted_messages` is the one function that derives it: the review page's redacted view,
version files and training uploads all call it, and every version manifest names it
(`curation.services.pii.redacted_messages`, where it lived first: still importable there
for the manifests already written).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from curation.models import (
    Conversation,
    Dataset,
    FindingDecision,
    PiiFinding,
    PreferencePair,
)
from curation.pii.engine import PiiConfig
from curation.pii.redaction import redact_messages


def redacted_messages(
    conversation: Conversation, *, findings: Sequence[PiiFinding] | None = None
) -> list[dict[str, Any]]:
    """The conversation as it may leave the system: current messages with PII replaced.

    `findings` may be passed pre-fetched (bulk exports); otherwise they are loaded. Once the
    originals are purged the stored redacted copy is all there is.
    """
    if conversation.originals_purged_at is not None:
        return conversation.redacted or []
    own = len(conversation.original)
    return redacted_everything(conversation, findings=findings)[:own]


def pii_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """What detection and redaction work on: the current messages, then the alternative reply
    of a preference pair (its findings index it after the conversation's last message), so a
    value redacted in the prompt is redacted the same way in both replies."""
    return [*conversation.current_messages(), *alternative_of(conversation)]


def redacted_everything(
    conversation: Conversation, *, findings: Sequence[PiiFinding] | None = None
) -> list[dict[str, Any]]:
    if findings is None:
        findings = list(conversation.findings.all())
    to_redact = [finding for finding in findings if finding.decision == FindingDecision.REDACT]
    messages = pii_messages(conversation)
    if not to_redact:
        # Nothing to replace: the messages leave as they are (callers never mutate them).
        return messages
    return redact_messages(
        messages, to_redact, operator=conversation.dataset.pii_operator, seed=conversation.pk
    )


def redacted_pair(
    conversation: Conversation, *, findings: Sequence[PiiFinding] | None = None
) -> tuple[list[Any], list[Any], list[Any]]:
    """(prompt, chosen, rejected) of a conversation's preference pair, redacted together by
    the same function and findings as `redacted_messages` (the chosen reply is the edited one
    where a reviewer edited it). Raises PreferencePair.DoesNotExist without a pair."""
    pair = conversation.preference
    if conversation.originals_purged_at is not None:
        # The alternative was redacted with the conversation when the originals were purged.
        return pair.split([*(conversation.redacted or []), *pair.alternative])
    return pair.split(redacted_everything(conversation, findings=findings))


def alternative_of(conversation: Conversation) -> list[dict[str, Any]]:
    """The alternative reply of the conversation's preference pair, or [] without one."""
    try:
        return conversation.preference.alternative
    except PreferencePair.DoesNotExist:
        return []


def pii_config_for(dataset: Dataset) -> PiiConfig:
    return PiiConfig(
        entities=list(dataset.pii_entities),
        threshold=dataset.pii_threshold,
        allow_list=list(dataset.pii_allow_list),
        deny_list=list(dataset.pii_deny_list),
        patterns=list(dataset.pii_patterns or []),
    )
