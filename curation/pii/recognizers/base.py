"""The building blocks of Curator's recognizers (a rule, a lean regex recognizer) and an
offline e-mail recognizer.

The recognizers fill the gaps of Presidio's defaults, plus an offline e-mail recognizer.

Everything here is a plain regular expression (the ``regex`` module, for Unicode letter classes)
run once per text, so the cost stays far below the spaCy pass. Context words that make a weak
match credible are matched by the engine in a character window around each match; rules that
need their context to match at all carry it inside the expression and report only the named
group(s) listed in ``Rule.groups``.

The patterns encode general conventions (postal formats, street-type words, honorifics,
self-introductions) rather than sentences of any evaluation set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import regex
import tldextract
from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer

# The module-level tldextract extractor downloads the public suffix list on first use; this one
# only ever reads the snapshot bundled with the package and never writes a cache.
_OFFLINE_TLD_EXTRACT = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
)

Validator = Callable[[str], float | None]

FLAGS = regex.MULTILINE | regex.VERSION0
# What may open a line before its content: indentation, quote marks, list bullets.
LINE_LEAD = r"^[ \t>?*|\-]*"


@dataclass(frozen=True, slots=True)
class Rule:
    """One expression of a ``RegexRecognizer``.

    ``groups`` maps named groups to the entity each one reports; without it the ``pii`` group (or
    the whole match) is reported as the recognizer's entity. ``validate`` receives the reported
    text and returns the final score, or None to drop the match.
    """

    name: str
    pattern: str
    score: float
    groups: Mapping[str, str] | None = None
    validate: Validator | None = None
    flags: int = 0


class RegexRecognizer(LocalRecognizer):
    """A lean pattern recognizer: precompiled rules, optional named-group spans, no explanations.

    ``gate`` is a cheap expression the text must contain before any rule runs (most chat messages
    have no digits, so the numeric recognizers are skipped without running their patterns).
    """

    name: str  # set by Presidio's EntityRecognizer.__init__, which mypy cannot infer

    def __init__(
        self,
        *,
        name: str,
        entity: str,
        rules: Sequence[Rule],
        context: Iterable[str] = (),
        gate: str | None = None,
    ) -> None:
        self.entity = entity
        self.rules = tuple(rules)
        self.compiled = tuple(
            (rule, regex.compile(rule.pattern, FLAGS | rule.flags)) for rule in self.rules
        )
        self.gate = regex.compile(gate, FLAGS) if gate else None
        entities = {entity}
        for rule in self.rules:
            entities.update((rule.groups or {}).values())
        super().__init__(
            supported_entities=sorted(entities),
            name=name,
            supported_language="en",
            context=list(context),
        )

    def load(self) -> None:
        """Nothing to load: the rules are compiled in the constructor."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Return every rule match whose entity is requested."""
        metadata = {
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        results: list[RecognizerResult] = []
        for rule, compiled in self.compiled:
            spans = _rule_spans(rule, compiled, self.entity, entities)
            if not spans:
                continue
            for match in compiled.finditer(text):
                for group, entity in spans:
                    start, end = match.span(group)
                    if start < 0 or start == end:
                        continue
                    score: float | None = rule.score
                    if rule.validate is not None:
                        score = rule.validate(text[start:end])
                    if score is None:
                        continue
                    results.append(
                        RecognizerResult(entity, start, end, score, recognition_metadata=metadata)
                    )
        return results


def _rule_spans(
    rule: Rule, compiled: regex.Pattern[str], default_entity: str, entities: Sequence[str]
) -> list[tuple[str | int, str]]:
    if rule.groups:
        return [(group, entity) for group, entity in rule.groups.items() if entity in entities]
    if default_entity not in entities:
        return []
    return [("pii" if "pii" in compiled.groupindex else 0, default_entity)]


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validating domains against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        """Accept the match when its domain ends in a known public suffix."""
        return _OFFLINE_TLD_EXTRACT(pattern_text).fqdn != ""


def warm_up_email_domains() -> None:
    """Build the public-suffix trie now (about 0.6 s), not at the first e-mail address a
    worker meets in a job."""
    _OFFLINE_TLD_EXTRACT("warm.example.com")
