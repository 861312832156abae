"""The one chat presenter: a conversation's messages ready for the templates.

`message_segments` feeds `partials/review_chat.html` (review, adjudication), and
`pii_chat` feeds `partials/pii_chat.html` (the conversation page's original-or-redacted
panel); both split texts into plain and PII segments with `curation.pii.highlight`, and
the templates escape every segment's text.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from typing import Any

from curation.models import Conversation, ConversationRevision, FindingDecision
from curation.pii.highlight import highlighted_messages
from curation.pii.policy import KNOWN_ENTITIES
from curation.selectors.redaction import redacted_messages
from curation.texts import message_text

_FENCE = re.compile(r"^[ \t]*```([^\n`]*)\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)


def _blocks(text: str, segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Split highlighted segments at fenced code blocks: [{kind, lang, segments}]. The fence
    lines themselves are presentation and are not shown."""
    ranges: list[tuple[int, int, str, str]] = []
    position = 0
    for match in _FENCE.finditer(text):
        if match.start() > position:
            ranges.append((position, match.start(), "text", ""))
        end = match.end(2)
        if end > match.start(2) and text[end - 1] == "\n":
            end -= 1
        ranges.append((match.start(2), end, "code", match.group(1).strip()))
        position = match.end()
    if position < len(text):
        ranges.append((position, len(text), "text", ""))
    if len(ranges) == 1 and ranges[0][2] == "text":
        return [{"kind": "text", "lang": "", "segments": segments}]
    placed = []
    offset = 0
    for segment in segments:
        placed.append((offset, offset + len(segment["text"]), segment))
        offset += len(segment["text"])
    blocks = []
    for start, end, kind, lang in ranges:
        pieces = []
        for seg_start, seg_end, segment in placed:
            low, high = max(start, seg_start), min(end, seg_end)
            if low < high:
                pieces.append(
                    {**segment, "text": segment["text"][low - seg_start : high - seg_start]}
                )
        blocks.append({"kind": kind, "lang": lang, "segments": pieces})
    return blocks


_WORDS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """(kind, text) runs of a word-level diff, kind same, del or add, in reading order: an
    edit that fixes one word shows that word, not the whole paragraph twice. Templates escape
    the text like any other conversation text."""
    old, new = _WORDS.findall(before), _WORDS.findall(after)
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            runs.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("del", "".join(old[i1:i2])))
        if j2 > j1:
            runs.append(("add", "".join(new[j1:j2])))
    return runs


def _pretty_json(text: str) -> str | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(value, dict | list):
        return None
    return json.dumps(value, indent=2, ensure_ascii=False)


def message_segments(
    conversation: Conversation, *, redacted: bool = False, findings: Iterable[Any] | None = None
) -> list[dict[str, Any]]:
    """The conversation's current messages ready for `partials/review_chat.html`.

    Each message: index, role, name, tool_call_id, weight, `blocks` (text and fenced code,
    each a list of segments {text, finding?}), `parts` (non-text content parts), `tool_calls`
    ({id, name, segments, pretty}), `edited` and `diff` (original → current). A segment with
    a finding is a PII span; the template escapes every segment's text. With `redacted`, the
    messages are `redacted_messages(conversation)` and carry no findings.
    """
    if redacted:
        messages, found = redacted_messages(conversation), []
    else:
        messages = conversation.messages_for_display()
        found = (
            list(findings)
            if findings is not None
            else (list(conversation.findings.all()) if conversation.original else [])
        )
    revisions: dict[int, list[ConversationRevision]] = {}
    for revision in conversation.revisions.all():
        revisions.setdefault(revision.message_index, []).append(revision)
    shown = []
    for index, message in enumerate(highlighted_messages(messages, found)):
        content = message.get("content")
        blocks: list[dict[str, Any]] = []
        parts: list[str] = []
        if isinstance(content, str):
            pretty = _pretty_json(content) if message.get("role") == "tool" else None
            if pretty is not None and not any(s.get("finding") for s in message["segments"]):
                blocks = [{"kind": "code", "lang": "json", "segments": [{"text": pretty}]}]
            else:
                blocks = _blocks(content, message["segments"])
        elif isinstance(content, list):
            text_parts = iter(message.get("part_segments", []))
            for part in content:
                if not isinstance(part, dict):
                    continue
                segments: list[dict[str, Any]] = next(text_parts, [])
                if part.get("type", "text") == "text":
                    blocks.extend(_blocks("".join(s["text"] for s in segments), segments))
                else:
                    parts.append(str(part.get("type")))
        calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            segments = call.get("segments") or []
            has_pii = any(s.get("finding") for s in segments)
            calls.append(
                {
                    "id": call.get("id", ""),
                    "name": function.get("name", ""),
                    "segments": segments,
                    "pretty": None if has_pii else _pretty_json(str(function.get("arguments", ""))),
                }
            )
        history = revisions.get(index, [])
        shown.append(
            {
                "index": index,
                "role": message.get("role", ""),
                "name": message.get("name", ""),
                "tool_call_id": message.get("tool_call_id", ""),
                "weight": message.get("weight"),
                "blocks": blocks,
                "parts": parts,
                "tool_calls": calls,
                "text": message_text(message),
                # A reply that only calls tools has no text worth editing.
                "editable": message.get("role") == "assistant"
                and (message.get("content") is not None or not message.get("tool_calls")),
                "edited": bool(history) and not redacted,
                "diff": word_diff(history[0].before, history[-1].after)
                if history and not redacted
                else [],
                "revisions": len(history),
            }
        )
    return shown


def pii_chat(conversation: Conversation, *, view: str = "original") -> dict[str, Any]:
    """The conversation page's chat panel: the current messages with PII highlighted and the
    findings to decide on (`view` "original"), or as exported ("redacted", and always once
    the originals are purged). `can_edit` says whether findings may be decided on here."""
    purged = conversation.originals_purged_at is not None
    findings = [] if purged else list(conversation.findings.all())
    counts = {
        "total": len(findings),
        "redacted": sum(f.decision == FindingDecision.REDACT for f in findings),
        "kept": sum(f.decision == FindingDecision.KEEP for f in findings),
    }
    base = {
        "dataset": conversation.dataset,
        "conversation": conversation,
        "purged": purged,
        "pii_counts": counts,
        "entity_types": KNOWN_ENTITIES,
    }
    if view == "redacted" or purged:
        shown = redacted_messages(conversation)
        return {**base, "messages_list": shown, "view": "redacted", "can_edit": False}
    return {
        **base,
        "messages_list": highlighted_messages(conversation.current_messages(), findings),
        "findings": findings,
        "view": "original",
        "can_edit": True,
    }
