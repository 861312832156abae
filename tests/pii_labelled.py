"""The project's own labelled PII set and how it is scored (used by tests and the benchmark).

``tests/data/pii_ordinary.jsonl``: real-looking chat messages without personal data
(instructions, recipes, code, travel, finance, general knowledge, products), written for this
project. Every detection in them is a false redaction.

``tests/data/pii_planted.jsonl``: messages with planted personal data, each span labelled
``{entity_type, start, end, value}``. A planted value counts as caught only when every letter
and digit of it is inside some detection (a half-redacted name still leaks).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"

#: Planted kinds grouped as the targets name them.
STRUCTURED = frozenset(
    {
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "UK_NHS",
        "US_PASSPORT",
        "NATIONAL_ID",
        "IP_ADDRESS",
        "ACCOUNT_ID",
        "DATE_OF_BIRTH",
    }
)


def load_ordinary() -> list[dict[str, str]]:
    lines = (DATA / "pii_ordinary.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def load_planted() -> list[dict[str, Any]]:
    lines = (DATA / "pii_planted.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def kind_of(entity_type: str) -> str:
    return "STRUCTURED" if entity_type in STRUCTURED else entity_type


Spans = Sequence[tuple[int, int]]
Analyzer = Callable[[list[str]], list[Spans]]


@dataclass
class Score:
    messages: int = 0
    false_redactions: int = 0
    false_examples: list[tuple[str, str]] = field(default_factory=list)
    planted: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    missed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def false_per_100(self) -> float:
        return 100.0 * self.false_redactions / max(1, self.messages)

    def recall(self, kind: str) -> float:
        return self.caught[kind] / self.planted[kind] if self.planted[kind] else 1.0


def caught(text: str, start: int, end: int, spans: Spans) -> bool:
    covered = [False] * len(text)
    for s, e in spans:
        for i in range(max(0, s), min(len(text), e)):
            covered[i] = True
    return all(covered[i] for i in range(start, end) if text[i].isalnum())


def score(analyze: Analyzer) -> Score:
    """Run ``analyze`` (texts → detected (start, end) spans per text) over both sets."""
    result = Score()
    ordinary = load_ordinary()
    for row, spans in zip(ordinary, analyze([r["text"] for r in ordinary]), strict=True):
        result.messages += 1
        result.false_redactions += len(spans)
        result.false_examples.extend((row["text"], row["text"][s:e]) for s, e in spans)
    planted = load_planted()
    for row, spans in zip(planted, analyze([r["text"] for r in planted]), strict=True):
        for gold in row["spans"]:
            kind = kind_of(gold["entity_type"])
            result.planted[kind] += 1
            if caught(row["text"], gold["start"], gold["end"], spans):
                result.caught[kind] += 1
            else:
                result.missed.append((gold["entity_type"], gold["value"]))
    return result
