"""The visible text of chat messages: pure and light, for pages as much as for jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Message = Mapping[str, Any]


def message_text(message: Message) -> str:
    """The visible text of one message: a string, the text parts of a list, or ``""``."""
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, Mapping):
                value = part.get("text") if part.get("type", "text") == "text" else None
                if value is None and part.get("type") == "refusal":
                    value = part.get("refusal")
                if isinstance(value, str):
                    pieces.append(value)
        text = "".join(pieces)
    else:
        text = ""
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        text = f"{text}\n{refusal}" if text else refusal
    return text
