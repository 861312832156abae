"""The figures of a version (counts, tokens, scores, redactions) gathered while it is built,
and the per-example PII counts written beside each exported line."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, TypedDict

from curation.splits import TRAIN
from curation.token_count import TOKEN_BUCKETS

# Token histogram bucket edges (an example falls in the last edge ≤ its count).
SCORE_BUCKETS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)


class ExampleFigures(TypedDict):
    """What `Stats.add` counts of one example, besides its split."""

    tokens: int
    assistant_tokens: int
    score: float | None
    pii: dict[str, int]
    prepended: bool


@dataclass
class Stats:
    examples: int = 0
    train: int = 0
    validation: int = 0
    total_tokens: int = 0
    assistant_tokens: int = 0
    train_tokens: int = 0
    validation_tokens: int = 0
    max_tokens: int = 0
    prepended: int = 0
    purged: int = 0
    merged: int = 0
    unscored: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(TOKEN_BUCKETS))
    scores: list[int] = field(default_factory=lambda: [0] * len(SCORE_BUCKETS))
    # entity type -> [redactions, examples]; bounded by the number of entity types.
    pii: dict[str, list[int]] = field(default_factory=dict)

    def add(
        self,
        *,
        split: str,
        tokens: int,
        assistant_tokens: int,
        score: float | None,
        pii: dict[str, int],
        prepended: bool = False,
        sign: int = 1,
    ) -> None:
        """Count one written example (sign -1: take back one counted before; the maximum
        stays, since a merged duplicate has the same text as the example kept)."""
        if score is None:
            self.unscored += sign
        elif score >= SCORE_BUCKETS[0]:
            self.scores[bisect.bisect_right(SCORE_BUCKETS, score) - 1] += sign
        for entity_type, redactions in pii.items():
            counts = self.pii.setdefault(entity_type, [0, 0])
            counts[0] += sign * redactions
            counts[1] += sign
        self.examples += sign
        self.prepended += sign * prepended
        self.total_tokens += sign * tokens
        self.assistant_tokens += sign * assistant_tokens
        if split == TRAIN:
            self.train += sign
            self.train_tokens += sign * tokens
        else:
            self.validation += sign
            self.validation_tokens += sign * tokens
        if sign > 0:
            self.max_tokens = max(self.max_tokens, tokens)
        self.histogram[bisect.bisect_right(TOKEN_BUCKETS, tokens) - 1] += sign

    def merge(self, other: Stats) -> None:
        for name in (
            "examples",
            "train",
            "validation",
            "total_tokens",
            "assistant_tokens",
            "train_tokens",
            "validation_tokens",
            "prepended",
            "purged",
            "merged",
            "unscored",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_tokens = max(self.max_tokens, other.max_tokens)
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]
        self.scores = [a + b for a, b in zip(self.scores, other.scores, strict=True)]
        for entity_type, (redactions, examples) in other.pii.items():
            counts = self.pii.setdefault(entity_type, [0, 0])
            counts[0] += redactions
            counts[1] += examples
        self.pii = {name: counts for name, counts in self.pii.items() if counts[1] > 0}

    def datasheet(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens(),
            "scores": {
                "histogram": [
                    {"from": low, "examples": count}
                    for low, count in zip(SCORE_BUCKETS, self.scores, strict=True)
                ],
                "unscored": self.unscored,
            },
            "pii": [
                {"entity_type": entity_type, "redactions": redactions, "conversations": examples}
                for entity_type, (redactions, examples) in sorted(
                    self.pii.items(), key=lambda item: (-item[1][0], item[0])
                )
                if examples > 0
            ],
            "system_prompt_prepended": self.prepended,
            "originals_purged": self.purged,
            "duplicates_merged": self.merged,
        }

    def tokens(self) -> dict[str, Any]:
        return {
            "total": self.total_tokens,
            "assistant": self.assistant_tokens,
            "train": self.train_tokens,
            "validation": self.validation_tokens,
            "max_per_example": self.max_tokens,
            "mean_per_example": round(self.total_tokens / self.examples, 1) if self.examples else 0,
            "histogram": [
                {"from": low, "to": high - 1 if high else None, "examples": count}
                for low, high, count in zip(
                    TOKEN_BUCKETS, [*TOKEN_BUCKETS[1:], None], self.histogram, strict=True
                )
            ],
        }


def pii_counts(findings: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.entity_type] = counts.get(finding.entity_type, 0) + 1
    return counts


def pii_field(counts: dict[str, int]) -> bytes:
    if not counts:
        return b"-"
    return ",".join(f"{name}:{count}" for name, count in sorted(counts.items())).encode()


def parse_pii(field: bytes) -> dict[str, int]:
    if field == b"-":
        return {}
    return {
        name.decode(): int(count)
        for name, count in (item.split(b":") for item in field.split(b","))
    }
