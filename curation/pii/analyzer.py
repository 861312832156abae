"""The PII engine: one spaCy pass over all texts, then Presidio's recognizers per text.

``AnalyzerEngine.analyze`` runs the whole spaCy pipeline (tagger, parser, lemmatizer…) for every
text and then a lemma-based context enhancer; on short chat messages that costs more than the
NER itself. Here the texts go through ``nlp.pipe`` with only the components NER needs, each doc's
entities become Presidio ``NlpArtifacts``, and the recognizers selected for the requested
entity types run on the text. Context words are matched in a character window instead of
lemmas, and recognizers that cannot match (no digit in the text, no '@') are skipped.

The NER is skipped the same way where its output cannot count: when the only NER type
requested is PERSON (the default), a NER name is reported only if it passes the evidence
checks, which need a listed name word in it (``may_name_listed_person``). Texts holding
a capitalised listed name word anywhere are tokenized, and only those holding one at token
boundaries go on to the NER (3.6 % of the CuCom support texts), with the same findings as
running it on all.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple

import regex
import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from spacy.attrs import IDX, LENGTH
from spacy.language import Language
from spacy.tokens import Doc

from curation.pii.config import (
    DEFAULT_MODEL,
    NO_CONTEXT,
    Detection,
    PatternTimeoutError,
    PiiConfig,
    TextContext,
)
from curation.pii.evidence import holds_listed_name, may_name_listed_person, warm_up_evidence
from curation.pii.recognizers import curator_recognizers
from curation.pii.recognizers.base import warm_up_email_domains
from curation.pii.recognizers.chinese import HAN, chinese_names, chinese_phones
from curation.pii.recognizers.devanagari import DEVANAGARI, devanagari_names
from curation.pii.recognizers.devanagari import warm_up as warm_up_devanagari
from curation.pii.recognizers.persons import NameListRecognizer, more_person_mentions
from curation.pii.recognizers.support import (
    answers,
    cued_identifiers,
    indian_addresses,
    national_phones,
)
from curation.pii.resolution import (
    RANK_CUED,
    RANK_FORCED,
    RANK_NER,
    RANK_RULES,
    Candidate,
    boost,
    resolve_overlaps,
    with_evidence,
)

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
# Health ids are reported only near their recognizer's cue words ("NHS number").
_NEEDS_CUE = frozenset({"UK_NHS"})

# NER runs on chunks of at most this many characters so one huge message cannot exhaust memory
# (spaCy needs about 1 GB per 100k characters); regex recognizers still see the whole text.
_NER_CHUNK_CHARS = 20_000

_CUSTOM_PATTERN_TIMEOUT_S = 5.0
_DIGIT_GATE = regex.compile(r"\d")
_USER_GATE = regex.compile(r"(?i)user|login")
# Presidio recognizers that need a digit (or '@', '.') somewhere in the text to match at all.
# Each gate is implied by every pattern of its recognizer (read from presidio-analyzer
# 2.2.366's patterns: "[0-9]{4}" somewhere in each pattern of the SSN recognizer, for
# instance); test_pii_recognizer_gates.py pins those patterns, so an upgrade that changes one
# fails there until its gate is checked again.
_PRESIDIO_GATES: dict[str, regex.Pattern[str] | None] = {
    "CreditCardRecognizer": regex.compile(r"\d{4}"),
    "UsBankRecognizer": regex.compile(r"\d{8}"),
    "UsLicenseRecognizer": _DIGIT_GATE,
    "UsItinRecognizer": regex.compile(r"\d{4}"),
    "UsPassportRecognizer": regex.compile(r"\d{8}"),
    "UsSsnRecognizer": regex.compile(r"\d{4}"),
    "NhsRecognizer": regex.compile(r"\d{4}"),
    "CryptoRecognizer": _DIGIT_GATE,
    "DateRecognizer": _DIGIT_GATE,
    # Two letters, then two digits: [A-Z]{2}[0-9]{2}, case-insensitive (so any letters).
    "IbanRecognizer": regex.compile(r"\p{L}{2}\d{2}"),
    "IpRecognizer": regex.compile(r"\d|::"),
    "MedicalLicenseRecognizer": regex.compile(r"\d{7}"),
    # Hex pairs need no digit ("aa:bb:cc:dd:ee:ff"); a separator after two of them, they do.
    "MacAddressRecognizer": regex.compile(r"[0-9A-Fa-f]{2}[:.\-]", regex.IGNORECASE),
    "UuidRecognizer": regex.compile(r"[0-9A-Fa-f]{4}-", regex.IGNORECASE),
    "UrlRecognizer": regex.compile(r"\.\w"),
    "EmailRecognizer": regex.compile("@"),
    "OfflineEmailRecognizer": regex.compile("@"),
    # Its pattern needs six digits ([0-9]{2} three times).
    "UkNinoRecognizer": regex.compile(r"\d{2}"),
}


class _Entity(NamedTuple):
    """The slice of a spaCy ``Span`` Presidio's ``SpacyRecognizer`` reads."""

    start_char: int
    end_char: int
    label_: str


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
    # The NER's only requested type is PERSON, whose spans must pass the evidence checks.
    ner_persons_only: bool
    deny: regex.Pattern[str] | None
    deny_entity: str
    custom: tuple[tuple[str, float, regex.Pattern[str]], ...]


class _PipeNlpEngine(SpacyNlpEngine):
    """A Presidio NLP engine over an already loaded NER-only pipeline (nothing to download)."""

    def __init__(self, nlp: Language, language: str) -> None:
        super().__init__(
            models=[{"lang_code": language, "model_name": nlp.meta.get("name", "")}],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping=dict(_NER_LABELS),
                labels_to_ignore=[],
                default_score=_NER_SCORE,
            ),
        )
        # Presidio's constructor sets it to None (read as its type) for load() to fill.
        self.nlp = {language: nlp}  # type: ignore[assignment]

    def load(self) -> None:
        """The pipeline was loaded by ``PiiEngine``; never download a model here."""

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        entities = [
            _Entity(ent.start_char, ent.end_char, _NER_LABELS[ent.label_])
            for ent in doc.ents
            if ent.label_ in _NER_LABELS
        ]
        return _artifacts(self, entities, doc, language)


def _artifacts(
    engine: _PipeNlpEngine, entities: list[_Entity], doc: Doc | None, language: str
) -> NlpArtifacts:
    # The pipeline has no lemmatizer, and keyword extraction (a vocab lookup per token) only
    # feeds Presidio's lemma context enhancer, which this engine replaces.
    artifacts = NlpArtifacts(
        entities=entities,  # type: ignore[arg-type]  # our spans carry what Presidio reads of spaCy's
        tokens=doc,  # type: ignore[arg-type]  # None when no pipeline ran; only context words read it
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


def _token_bounds(doc: Doc) -> list[tuple[int, int]]:
    """(start, end) character offsets of ``doc``'s tokens."""
    if not len(doc):
        return []
    return [(start, start + length) for start, length in doc.to_array([IDX, LENGTH]).tolist()]


def _context_regex(words: Iterable[str]) -> regex.Pattern[str] | None:
    words = [w.strip().lower() for w in words if w and w.strip()]
    if not words:
        return None
    alternatives = sorted({regex.escape(w).replace(r"\ ", r"\s+") for w in words}, key=len)
    return regex.compile(r"\b(?:" + "|".join(reversed(alternatives)) + ")")


class PiiEngine:
    """Presidio + spaCy, loaded once per process and model (see ``get_engine``)."""

    def __init__(self, model_name: str = DEFAULT_MODEL, *, language: str = "en") -> None:
        self.model_name = model_name
        self.language = language
        self.nlp = _ner_pipeline(model_name)
        self.nlp_engine = _PipeNlpEngine(self.nlp, language)

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
        warm_up_devanagari()
        warm_up_email_domains()
        self._plans: dict[str, _Plan] = {}
        self._plans_lock = threading.Lock()

    @property
    def supported_entities(self) -> list[str]:
        """Every entity type some recognizer of this engine can report."""
        return sorted({e for rec in self.registry.recognizers for e in rec.supported_entities})

    def analyze_texts(
        self,
        texts: Sequence[str],
        config: PiiConfig,
        batch_size: int = 64,
        *,
        contexts: Iterable[TextContext] | TextContext = NO_CONTEXT,
        ner_prefilter: bool = True,
    ) -> list[list[Detection]]:
        """Detect PII in every text; the result lists line up with ``texts``."""
        return list(
            self.iter_analyze(
                texts,
                config,
                batch_size=batch_size,
                contexts=contexts,
                ner_prefilter=ner_prefilter,
            )
        )

    def iter_analyze(
        self,
        texts: Iterable[str],
        config: PiiConfig,
        *,
        batch_size: int = 64,
        contexts: Iterable[TextContext] | TextContext = NO_CONTEXT,
        ner_prefilter: bool = True,
    ) -> Iterator[list[Detection]]:
        """Like ``analyze_texts`` but streaming: one list of detections per text, in order.

        ``contexts``: one ``TextContext`` for all texts, or one per text (in order). The result
        for a text depends only on (``config``, the text, its context), not on
        ``ner_prefilter``: off, every text goes through the NER (the reference the
        prefilter is checked against, see ``bench_pii_prefilter.py``).
        """
        plan = self._plan(config)
        allow = {value.strip().casefold() for value in config.allow_list if value.strip()}
        threshold = float(config.threshold)
        each = repeat(contexts) if isinstance(contexts, TextContext) else iter(contexts)
        gate = ner_prefilter and plan.ner_persons_only
        for text, entities, doc in self._ner(texts, plan, batch_size, gate=gate):
            context = next(each, NO_CONTEXT)
            yield self._detect(text, entities, doc, plan, threshold, allow, context)

    # -- internals --------------------------------------------------------------------------

    def _ner(
        self, texts: Iterable[str], plan: _Plan, batch_size: int, *, gate: bool = False
    ) -> Iterator[tuple[str, list[_Entity], Doc | None]]:
        """Yield each text with its NER entities, running ``nlp.pipe`` over all of them, or
        with ``gate`` over those where a NER name could be reported (the others: none)."""

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
        # Texts the gate kept from the NER, in order, yielded as the NER reaches past them.
        skipped: deque[tuple[int, str]] = deque()

        # Each chunk carries (text index, offset, is the text's last chunk).
        def chunks() -> Iterator[tuple[str | Doc, tuple[int, int, bool]]]:
            for index, text in checked():
                if gate and len(text) <= _NER_CHUNK_CHARS:
                    # A listed name anywhere first (no tokens needed: most texts stop here),
                    # then at token boundaries. Tokenized once: the NER takes the same Doc.
                    if not holds_listed_name(text):
                        skipped.append((index, text))
                        continue
                    doc = self.nlp.make_doc(text)
                    if not may_name_listed_person(text, _token_bounds(doc)):
                        skipped.append((index, text))
                        continue
                    pending[index] = text
                    yield doc, (index, 0, True)
                    continue
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
            while skipped and skipped[0][0] < index:
                yield skipped.popleft()[1], [], None
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
        while skipped:
            yield skipped.popleft()[1], [], None

    def _detect(
        self,
        text: str,
        ner_entities: list[_Entity],
        doc: Doc | None,
        plan: _Plan,
        threshold: float,
        allow: set[str],
        context: TextContext = NO_CONTEXT,
    ) -> list[Detection]:
        if not text or text.isspace():
            return []
        candidates: list[Candidate] = []
        artifacts = _artifacts(self.nlp_engine, ner_entities, doc, self.language)
        for slot in plan.slots:
            if slot.gate is not None and slot.gate.search(text) is None:
                continue
            for result in slot.recognizer.analyze(text, slot.entities, artifacts) or ():
                if result.entity_type not in plan.entities or result.end <= result.start:
                    continue
                score = result.score
                if slot.context is not None and score < 1.0:
                    score = boost(text, result.start, result.end, slot.context, score)
                if result.entity_type in _NEEDS_CUE and score <= result.score:
                    # A checksum alone proves nothing: 1 in 11 ten-digit numbers passes NHS's.
                    continue
                if score < threshold:
                    continue
                if allow and text[result.start : result.end].strip().casefold() in allow:
                    continue
                candidates.append(
                    Candidate(
                        result.start,
                        result.end,
                        result.entity_type,
                        score,
                        slot.rank,
                        slot.needs_evidence and result.entity_type == "PERSON",
                    )
                )
        candidates.extend(
            Candidate(start, end, kind, score, RANK_CUED)
            for start, end, kind, score in self._support(text, context, plan.entities)
            if kind in plan.entities and not (allow and text[start:end].strip().casefold() in allow)
        )
        candidates = with_evidence(text, candidates)
        if "PERSON" in plan.entities:
            persons = [(c.start, c.end) for c in candidates if c.entity_type == "PERSON"]
            candidates.extend(
                Candidate(start, end, "PERSON", score, RANK_RULES)
                for start, end, score in more_person_mentions(text, persons)
                if score >= threshold
                and not (allow and text[start:end].strip().casefold() in allow)
            )
        if plan.deny is not None:
            candidates.extend(
                Candidate(m.start(), m.end(), plan.deny_entity, 1.0, RANK_FORCED)
                for m in plan.deny.finditer(text)
            )
        for entity, score, compiled in plan.custom:
            try:
                for match in compiled.finditer(text, timeout=_CUSTOM_PATTERN_TIMEOUT_S):
                    if match.end() > match.start():
                        candidates.append(
                            Candidate(match.start(), match.end(), entity, score, RANK_FORCED)
                        )
            except TimeoutError:
                raise PatternTimeoutError(
                    f"custom pattern for {entity} took over {_CUSTOM_PATTERN_TIMEOUT_S:g}s "
                    "on one message; simplify it"
                ) from None
        return resolve_overlaps(text, candidates)

    @staticmethod
    def _support(
        text: str, context: TextContext, entities: frozenset[str]
    ) -> Iterator[tuple[int, int, str, float]]:
        """Support-chat rules: cued identifiers, national phones, PIN addresses, answers."""
        if _DIGIT_GATE.search(text) is not None or "@" in text or _USER_GATE.search(text):
            yield from cued_identifiers(text)
            if "PHONE_NUMBER" in entities:
                yield from national_phones(text, context.region)
            if "STREET_ADDRESS" in entities or "ZIP_CODE" in entities:
                yield from indian_addresses(text)
        if context.asked:
            yield from answers(text, context, entities)
        # By script, whatever the dataset's languages: a message with Chinese characters.
        if HAN.search(text) is not None:
            if "PERSON" in entities:
                yield from chinese_names(text)
            yield from chinese_phones(text)
        # And a message with Devanagari letters.
        if "PERSON" in entities and DEVANAGARI.search(text) is not None:
            yield from devanagari_names(text)

    def _plan(self, config: PiiConfig) -> _Plan:
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
            rank = RANK_NER if isinstance(recognizer, SpacyRecognizer) else RANK_RULES
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
        ner_slots = [slot for slot in slots if isinstance(slot.recognizer, SpacyRecognizer)]
        plan = _Plan(
            slots=tuple(slots),
            entities=frozenset(requested),
            needs_ner=bool(ner_slots),
            ner_persons_only=bool(ner_slots)
            and all(slot.entities == ["PERSON"] and slot.needs_evidence for slot in ner_slots),
            deny=deny,
            deny_entity=config.deny_list_entity,
            custom=custom,
        )
        with self._plans_lock:
            if len(self._plans) > 64:
                self._plans.clear()
            self._plans[key] = plan
        return plan
