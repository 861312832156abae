"""Split message texts into plain and PII segments for display (the template escapes each)."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Sequence
from typing import Any


def _segments(text: str, findings: Sequence[Any]) -> list[dict[str, Any]]:
    segments: list[dict[str, Any]] = []
    cursor = 0
    for finding in sorted(findings, key=lambda f: (f.start, -f.end)):
        if finding.start < cursor or finding.end > len(text):
            continue  # overlapping or stale spans are shown by the first one only
        if finding.start > cursor:
            segments.append({"text": text[cursor : finding.start]})
        segments.append({"text": text[finding.start : finding.end], "finding": finding})
        cursor = finding.end
    if cursor < len(text):
        segments.append({"text": text[cursor:]})
    return segments


def highlighted_messages(
    messages: list[dict[str, Any]], findings: Sequence[Any]
) -> list[dict[str, Any]]:
    """Copies of `messages` where content and tool-call arguments carry `segments` lists."""
    by_place: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for finding in findings:
        by_place[(finding.message_index, finding.field)].append(finding)
    result = []
    for index, message in enumerate(messages):
        shown = copy.copy(message)
        content = message.get("content")
        if isinstance(content, str):
            shown["segments"] = _segments(content, by_place[(index, "content")])
        elif isinstance(content, list):
            shown["part_segments"] = [
                _segments(str(part.get("text", "")), by_place[(index, f"content.{n}.text")])
                for n, part in enumerate(content)
                if isinstance(part, dict)
            ]
        calls = []
        for n, call in enumerate(message.get("tool_calls") or []):
            call = copy.deepcopy(call)
            arguments = str((call.get("function") or {}).get("arguments", ""))
            call["segments"] = _segments(
                arguments, by_place[(index, f"tool_calls.{n}.function.arguments")]
            )
            calls.append(call)
        if calls:
            shown["tool_calls"] = calls
        result.append(shown)
    return result
