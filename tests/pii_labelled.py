"""The labelled PII sets and how they are scored (used by tests and the benchmark).

Every set comes in two parts, split by a hash of each row before any rule was changed for
issue 26: ``_dev`` (rules may be written while reading it) and ``_holdout`` (only measured;
no rule or comment cites it). Figures in the docs are held-back figures.

``pii_ordinary_{dev,holdout}.jsonl``: real-looking chat messages without personal data
(instructions, recipes, code, travel, finance, general knowledge, products), written for this
project. Every detection in them is a false redaction.

``pii_planted_{dev,holdout}.jsonl``: messages with planted personal data, each span labelled
``{entity_type, start, end, value}``. A planted value counts as caught only when every letter
and digit of it is inside some detection (a half-redacted name still leaks).

``pii_support/support_{dev,holdout}.jsonl``: whole public support conversations (CuCom,
Apache-2.0; ABCD, MIT; see ``pii_support/README.md``) with their natural personal data
labelled per message. Detections that overlap no label are false redactions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.pii.conversation import analyze_conversation

DATA = Path(__file__).resolve().parent / "data"

#: Planted kinds grouped as the targets name them.
STRUCTURED = frozenset(
    {
        "UPI_ID",
        "USERNAME",
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


SPLITS = ("dev", "holdout")


def _rows(name: str, split: str) -> list[dict[str, Any]]:
    parts = SPLITS if split == "all" else (split,)
    rows = []
    for part in parts:
        lines = (DATA / f"{name}_{part}.jsonl").read_text(encoding="utf-8").splitlines()
        rows.extend(json.loads(line) for line in lines if line.strip())
    return rows


def load_ordinary(split: str = "all") -> list[dict[str, str]]:
    return _rows("pii_ordinary", split)


def load_planted(split: str = "all") -> list[dict[str, Any]]:
    return _rows("pii_planted", split)


def load_support(split: str = "all") -> list[dict[str, Any]]:
    """Support conversations: ``{source, id, region, languages, messages: [{role, content,
    spans}]}``."""
    return _rows("pii_support/support", split)


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


def score(analyze: Analyzer, split: str = "all") -> Score:
    """Run ``analyze`` (texts → detected (start, end) spans per text) over both sets."""
    result = Score()
    ordinary = load_ordinary(split)
    for row, spans in zip(ordinary, analyze([r["text"] for r in ordinary]), strict=True):
        result.messages += 1
        result.false_redactions += len(spans)
        result.false_examples.extend((row["text"], row["text"][s:e]) for s, e in spans)
    planted = load_planted(split)
    for row, spans in zip(planted, analyze([r["text"] for r in planted]), strict=True):
        for gold in row["spans"]:
            kind = kind_of(gold["entity_type"])
            result.planted[kind] += 1
            if caught(row["text"], gold["start"], gold["end"], spans):
                result.caught[kind] += 1
            else:
                result.missed.append((gold["entity_type"], gold["value"]))
    return result


ConversationAnalyzer = Callable[[list[dict[str, Any]]], list[list[Spans]]]


def load_chinese(split: str = "all") -> list[dict[str, Any]]:
    """Chinese sentences with planted names (PERSON_ZH) and without; support-set format."""
    return _rows("pii_support/chinese", split)


def load_chinese_uner(split: str = "all") -> list[dict[str, Any]]:
    """Real Chinese text nobody here wrote: Universal NER's Simplified-Chinese Wikipedia
    sentences (CC BY-SA 4.0), their hand-labelled person names as PERSON_ZH (Chinese script)
    and PERSON (Latin letters); support-set format, one sentence per conversation."""
    return _rows("pii_support/chinese_uner", split)


#: The conversation-shaped sets ``score_support`` reads.
SUPPORT_SETS: dict[str, Callable[[str], list[dict[str, Any]]]] = {
    "support": load_support,
    "chinese": load_chinese,
    "chinese_uner": load_chinese_uner,
}


def score_support(
    analyze: ConversationAnalyzer, split: str = "all", *, corpus: str = "support"
) -> Score:
    """Run ``analyze`` (conversations → spans per message) over the conversations of
    ``corpus`` (a key of ``SUPPORT_SETS``).

    ``messages`` counts the messages without labelled personal data and ``false_redactions``
    the detections in them; recall is per labelled kind.
    """
    result = Score()
    conversations = SUPPORT_SETS[corpus](split)
    for conversation, found in zip(conversations, analyze(conversations), strict=True):
        for message, spans in zip(conversation["messages"], found, strict=True):
            text = message["content"]
            golds = message["spans"]
            if not golds:
                result.messages += 1
                result.false_redactions += len(spans)
                result.false_examples.extend((text, text[s:e]) for s, e in spans)
            for gold in golds:
                kind = kind_of(gold["entity_type"])
                result.planted[kind] += 1
                if caught(text, gold["start"], gold["end"], spans):
                    result.caught[kind] += 1
                else:
                    result.missed.append((gold["entity_type"], gold["value"]))
    return result


def support_analyzer(engine: Any, config: Any) -> Callable[[list[dict[str, Any]]], Any]:
    """Conversations → spans per message, as the detection job finds them (each
    conversation with its region and languages)."""

    def analyze(conversations: list[dict[str, Any]]) -> list[list[list[tuple[int, int]]]]:
        found = []
        for conversation in conversations:
            detections = analyze_conversation(
                engine,
                [(m["role"], m["content"]) for m in conversation["messages"]],
                config,
                region=conversation["region"],
                languages=tuple(conversation["languages"]),
            )
            found.append([[(d.start, d.end) for d in message] for message in detections])
        return found

    return analyze
