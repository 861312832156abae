"""The judge prompt's wire format: section markers and the reply shapes.

Pure (no Django): the judge service writes prompts with these markers and parses replies in
these shapes, and the bundled simulator reads the same markers when it acts as a judge, so
it judges only from the texts it is shown.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Bump when the wording or the format changes: runs record the version they were judged with.
JUDGE_PROMPT_VERSION = "rubric-judge/1"
PAIRWISE_PROMPT_VERSION = "pairwise-judge/1"

CONVERSATION = "CONVERSATION"
REFERENCE = "REFERENCE"
RESPONSE = "RESPONSE"
RESPONSE_A = "RESPONSE A"
RESPONSE_B = "RESPONSE B"
CRITERIA = "CRITERIA"


def section(name: str, text: str) -> str:
    return f"<<<{name}>>>\n{text}\n<<<END {name}>>>"


def read_section(text: str, name: str) -> str | None:
    """The text between a section's markers, or None when the prompt has no such section."""
    match = re.search(
        rf"<<<{re.escape(name)}>>>\n(.*?)\n<<<END {re.escape(name)}>>>", text, flags=re.S
    )
    return match.group(1) if match else None


def criteria_keys(text: str) -> list[str]:
    """The criterion keys listed in a CRITERIA section ("- key: Name — description")."""
    block = read_section(text, CRITERIA) or ""
    return [m.group(1) for m in re.finditer(r"^- ([A-Za-z0-9_]+):", block, flags=re.M)]


def parse_json_reply(text: str) -> dict[str, Any] | None:
    """The first JSON object in a judge's reply (models wrap JSON in prose or fences)."""
    start = text.find("{")
    while start != -1:
        depth = 0
        for index in range(start, len(text)):
            char = text[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    try:
                        value = json.loads(text[start : index + 1])
                    except ValueError:
                        break
                    return value if isinstance(value, dict) else None
        start = text.find("{", start + 1)
    return None
