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
JUDGE_PROMPT_VERSION = "rubric-judge/2"
PAIRWISE_PROMPT_VERSION = "pairwise-judge/2"

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


_DECODER = json.JSONDecoder()


def parse_json_reply(text: str, *, expect: str | None = None) -> dict[str, Any] | None:
    """The first JSON object in a judge's reply that has the ``expect`` key (models wrap JSON
    in prose or fences, put braces inside their reasons, or quote the whole object as a JSON
    string). Each ``{`` is tried with ``JSONDecoder.raw_decode``, which reads strings as
    JSON does; a reply cut short parses as nothing, and the caller records that as an error."""
    stripped = text.strip()
    if stripped.startswith('"'):
        try:
            inner = json.loads(stripped)
        except ValueError:
            inner = None
        if isinstance(inner, str):
            return parse_json_reply(inner, expect=expect)
    start = text.find("{")
    while start != -1:
        try:
            value, _end = _DECODER.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict) and (expect is None or expect in value):
            return value
        start = text.find("{", start + 1)
    return None
