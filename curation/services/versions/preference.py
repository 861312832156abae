"""Preference versions: approved pairs as OpenAI preference JSONL lines.

One line per pair: `{"input": {"messages": prompt, "tools": …}, "preferred_output": chosen,
"non_preferred_output": rejected}`, all three redacted together by `redacted_pair` (the one
redaction). The near-duplicate key of a pair is its prompt's, so every pair that shares a
prompt lands in the same split; identical lines are merged like identical SFT examples.
"""

from __future__ import annotations

from typing import Any

from curation.models import Conversation, PairChoice, PiiFinding, PreferencePair
from curation.pii.redaction import redact_messages
from curation.selectors.redaction import pii_messages, redacted_pair
from curation.splits import SYSTEM_ROLES, near_duplicate_key


def cached_pair(conversation: Conversation) -> PreferencePair | None:
    try:
        return conversation.preference
    except PreferencePair.DoesNotExist:
        return None


def attach_pairs(conversations: list[Conversation], ids: Any) -> None:
    """Load the pairs of a page of conversations in one query and cache them on the rows
    (a row without a pair caches None, so reading it costs no query)."""
    pairs = {
        pair.conversation_id: pair
        for pair in PreferencePair.objects.filter(conversation_id__in=ids)
    }
    for conversation in conversations:
        pair = pairs.get(conversation.id)
        conversation._state.fields_cache["preference"] = pair
        if pair is not None:
            pair._state.fields_cache["conversation"] = conversation


def _tagged_split(
    conversation: Conversation, pair: PreferencePair, findings: list[PiiFinding]
) -> tuple[list[Any], list[Any], list[Any]]:
    """The pair redacted with tags: what near-duplicates are judged on (two fakes differ)."""
    return pair.split(
        redact_messages(pii_messages(conversation), findings, operator="tag", seed=conversation.pk)
    )


def chosen_conversation(
    conversation: Conversation, *, findings: list[PiiFinding], tagged: bool
) -> tuple[list[Any], list[Any]] | None:
    """For a supervised version: (messages, messages for the near-duplicate key) when the
    conversation's pair prefers the alternative reply, else None (its own messages are the
    chosen reply already)."""
    pair = cached_pair(conversation)
    if pair is None or not pair.active or pair.choice != PairChoice.B:
        return None
    prompt, chosen, _ = redacted_pair(conversation, findings=findings)
    messages = [*prompt, *chosen]
    if tagged and findings and conversation.originals_purged_at is None:
        tag_prompt, tag_chosen, _ = _tagged_split(conversation, pair, findings)
        return messages, [*tag_prompt, *tag_chosen]
    return messages, messages


def preference_example(
    conversation: Conversation,
    *,
    findings: list[PiiFinding],
    system_prompt: str,
    tagged: bool,
) -> tuple[dict[str, Any], str, bool]:
    """(the line's object, its near-duplicate key (the prompt's), whether the dataset's system
    prompt was prepended)."""
    pair = conversation.preference
    prompt, chosen, rejected = redacted_pair(conversation, findings=findings)
    grouped = prompt
    if tagged and findings and conversation.originals_purged_at is None:
        grouped = _tagged_split(conversation, pair, findings)[0]
    prepended = bool(system_prompt) and not any(
        message.get("role") in SYSTEM_ROLES for message in prompt
    )
    if prepended:
        prompt = [{"role": "system", "content": system_prompt}, *prompt]
    given: dict[str, Any] = {"messages": prompt}
    if conversation.tools is not None:
        given["tools"] = conversation.tools
    if conversation.parallel_tool_calls is not None:
        given["parallel_tool_calls"] = conversation.parallel_tool_calls
    example = {"input": given, "preferred_output": chosen, "non_preferred_output": rejected}
    return example, near_duplicate_key(grouped), prepended
