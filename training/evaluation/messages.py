"""Reading chat messages (pure, light: the judge and the CLI import it without the metrics)."""

from __future__ import annotations

from typing import Any


def text_of(message: dict[str, Any] | None) -> str:
    """A message's text: its string content, or its text parts joined."""
    if not message:
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""
