"""Recognizers that fill the gaps of Presidio's defaults, plus an offline e-mail recognizer.

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
from dataclasses import dataclass, field

import regex
import tldextract
from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer, UkNinoRecognizer

from curation.pii.evidence import COMMON_WORD_NAMES as _COMMON_WORD_NAMES
from curation.pii.evidence import given_names, lexicon

# The module-level tldextract extractor downloads the public suffix list on first use; this one
# only ever reads the snapshot bundled with the package and never writes a cache.
_OFFLINE_TLD_EXTRACT = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
)

Validator = Callable[[str], float | None]

_FLAGS = regex.MULTILINE | regex.VERSION0


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
            (rule, regex.compile(rule.pattern, _FLAGS | rule.flags)) for rule in self.rules
        )
        self.gate = regex.compile(gate, _FLAGS) if gate else None
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


# ---------------------------------------------------------------------------------------------
# Building blocks

_NAME_WORD = r"\p{Lu}\p{Ll}*(?:(?:\p{Lu}|['\u2019\-]\p{Lu}?)\p{Ll}+)*"
_FIRST_NAME = r"\p{Lu}\p{Ll}+(?:(?:\p{Lu}|['\u2019\-]\p{Lu}?)\p{Ll}+)*"
_PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|dos|das|du|le|la|ter|ten|bin|ibn|al|y)"
_NAME_SEQ = (
    rf"{_FIRST_NAME}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?(?:\p{{Lu}}\.?[ \t]+)?{_NAME_WORD}){{0,3}}"
    r"(?![\p{L}\d])"
)
# Capitalised words that follow greetings and introductions without being names.
_NOT_NAMES = (
    "All|Everyone|Everybody|Team|Guys|Folks|Friends?|There|Sir|Madam|Ma'am|Customer|Support|"
    "Thanks|Thank|Sorry|Good|Great|Yes|No|Ok|Okay|Please|Here|The|A|An|I|My|We|You|It|This|"
    "That|What|How|Why|When|Where|Who|Just|Not|So|Very|Really|Also|Hello|Hi|Hey|Dear|Again|"
    "Back|Glad|Happy|Fine|Well|Sure|Going|Looking|Trying|Interested|Ready|Done|New|Back|Still|"
    "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Morning|Afternoon|Evening|"
    "Night|Today|Tomorrow|Tonight|World|Mom|Dad|Mum|Boss|Doctor|Bro|Man|Dude|Buddy|Honey"
)
_HONORIFIC = (
    r"(?:Mr|Mrs|Ms|Mss|Miss|Mx|Dr|Prof|Sir|Dame|Lord|Lady|Madam|Mme|Mlle|Herr|Frau|Sr|Sra|"
    r"Srta|Rev|Fr|Capt|Sgt|Lt|Col|Gen|Hon|Judge|Rabbi|Imam|Father|Sister|Brother|Aunt|Uncle)"
)
_GREETING = (
    r"(?:Hi|Hello|Hey|Dear|Hiya|Howdy|Greetings|Good[ \t](?:morning|afternoon|evening)|"
    r"Thanks|Thank[ \t]you|Cheers|Bye|Goodbye|Welcome|Congratulations|Congrats|Sorry)"
)
_LINE_LEAD = r"^[ \t>?*|\-]*"
_RELATIONS = (
    r"kid|kids|son|daughter|wife|husband|partner|spouse|boyfriend|girlfriend|friend|brother|"
    r"sister|mom|mum|mother|dad|father|boss|colleague|coworker|co-worker|neighbou?r|child|"
    r"baby|uncle|aunt|cousin|nephew|niece|grandson|granddaughter|grandma|grandpa|grandmother|"
    r"grandfather|fianc[ée]e?|manager|teacher|student|doctor|lawyer|landlord|tenant|client|"
    r"patient|roommate|classmate|assistant|employee|supervisor|stepson|stepdaughter"
)


def _plausible_name(score: float, *, rare_ok: bool = True) -> Validator:
    """A rule found a capitalised phrase where a name is expected; is it one?

    At least one of its words must be a listed given or family name, or a word too rare in
    English (wordfreq) to be an ordinary one: "Dear Hiring Manager" and "Thank you, Assistant"
    are not names, "Dear Olga" and "Dear Mr. Okafor" are. After weaker cues (a verb such as
    "visit" or "call") only listed names count: "visit Machu Picchu" is no person.
    """

    def validate(value: str) -> float | None:
        lex = lexicon()
        words = [w.strip(".,'\u2019").casefold() for w in value.split()]
        words = [w for w in words if len(w) > 1]
        if len(words) == 1 and words[0] in _COMMON_WORD_NAMES:
            # Assistants, brands and words that double as names ("I am Vicuna").
            return None
        if any(
            w in lex.first or w in lex.last or (rare_ok and lex.zipf(w) < _RARE_WORD_ZIPF)
            for w in words
        ):
            return score
        return None

    return validate


_RARE_WORD_ZIPF = 3.0


def _not_a_brand(score: float) -> Validator:
    def validate(value: str) -> float | None:
        words = value.split()
        if len(words) == 1 and words[0].casefold() in _COMMON_WORD_NAMES:
            return None
        return score

    return validate


def _person_rules() -> list[Rule]:
    not_name = rf"(?!(?:{_NOT_NAMES})\b)"
    stop_after = r"(?!(?:and|but|or|so|is|was|i|im|i'm|not|from|at|in|on|the|a|an)\b)"
    lower_word = r"[\p{L}][\p{L}'\u2019\-]+"
    return [
        Rule(
            "honorific",
            rf"(?<![\p{{L}}.])(?P<pii>{_HONORIFIC}\.?[ \t]+{not_name}{_NAME_SEQ})",
            0.8,
        ),
        # Chat text is often all lower case, so after "my name is" the name may be too.
        Rule(
            "my name is",
            rf"\b(?i:my[ \t]+name[ \t]+is|my[ \t]+name's|my[ \t]+names[ \t]+is)[ \t]+"
            rf"(?!(?i:not|a|an|the|also|actually|still|just|really)\b)"
            rf"(?P<pii>{lower_word}(?:[ \t]+{stop_after}(?i:{lower_word}))?)",
            0.8,
            validate=_not_a_brand(0.8),
        ),
        Rule(
            "introduction",
            rf"\b(?i:i'm|i[ \t]+am|i\u2019m|call[ \t]+me|this[ \t]+is|it's|it\u2019s|they[ \t]+call[ \t]+me|"
            rf"named|called|name's)[ \t]+{not_name}(?P<pii>{_NAME_SEQ})"
            rf"(?=[ \t]*(?:[,.!;:)\n]|$|(?i:and|from|here|speaking|by|calling|writing|again)\b))",
            0.65,
            validate=_plausible_name(0.65),
        ),
        Rule(
            "name field",
            rf"\b(?i:(?:first|last|full|middle|sur|given|family|maiden|user|contact|patient|"
            rf"customer|account[ \t]holder)?[ \t]?name)[ \t]*(?:is|[:?=\-])[ \t]*{not_name}"
            rf"(?P<pii>{_NAME_SEQ})",
            0.75,
            validate=_not_a_brand(0.75),
        ),
        # Labelled fields of forms, letters and e-mail headers ("Patient: …", "From: …").
        Rule(
            "labelled person",
            rf"{_LINE_LEAD}(?i:patient|customer|client|applicant|tenant|landlord|guest|"
            rf"passenger|employee|contact(?:[ \t]person)?|from|to|cc|attn|attention|recipient|"
            rf"sender|signed|signature|account[ \t]holder|cardholder|beneficiary)[ \t]*:[ \t]*"
            rf"{not_name}(?P<pii>{_NAME_SEQ})",
            0.7,
            validate=_plausible_name(0.7),
        ),
        # Messages, letters and calls from or to someone ("Message from …", "reply to …").
        Rule(
            "message from",
            rf"\b(?i:message|email|e-mail|mail|call|text|note|letter|reply|application|request|"
            rf"complaint|invitation|card|gift|visit|invoice|order)[ \t]+(?i:from|to|for)[ \t]+"
            rf"{not_name}(?P<pii>{_NAME_SEQ})",
            0.6,
            validate=_plausible_name(0.6, rare_ok=False),
        ),
        Rule(
            "write to",
            rf"\b(?i:reply|write|talk|speak|forward[ \t]+(?:it|this|everything|them)|"
            rf"send[ \t]+(?:it|this|them|everything))[ \t]+(?i:to)[ \t]+"
            rf"{not_name}(?P<pii>{_NAME_SEQ})",
            0.6,
            validate=_plausible_name(0.6, rare_ok=False),
        ),
        Rule(
            "greeting",
            rf"(?:^|(?<=[\s,.!?\"'(]))(?i:{_GREETING})[ \t]*,?[ \t]+{not_name}(?P<pii>{_NAME_SEQ})"
            rf"(?=[ \t]*(?:[,.!:;?\n]|$))",
            0.7,
            validate=_plausible_name(0.7),
        ),
        Rule(
            "sign-off",
            rf"(?i:regards|sincerely|best|cheers|thanks|thank[ \t]you|yours(?:[ \t]truly)?|"
            rf"love|xoxo|-{{1,2}})[ \t]*,?[ \t]*\n[ \t]*(?P<pii>{_NAME_SEQ})[ \t]*$",
            0.7,
            validate=_plausible_name(0.7),
        ),
        Rule(
            "relation",
            rf"\b(?i:my|his|her|our|their|your)[ \t]+(?i:{_RELATIONS})[ \t]*,?[ \t]+"
            rf"{not_name}(?P<pii>{_NAME_SEQ})",
            0.7,
            validate=_plausible_name(0.7),
        ),
        Rule(
            "speech verb",
            rf"\b(?i:said|asked|told|shouted[ \t]+at|yelled[ \t]+at|replied[ \t]+to|thanked|"
            rf"hugged|kissed|married|texted|emailed|e-mailed|tell|ask|remind|inform|notify|invite|"
            rf"thank|call|email|text|meet|met|pay|paid|hire|hired|contact)[ \t]+{not_name}"
            rf"(?P<pii>{_NAME_SEQ})",
            0.6,
            validate=_plausible_name(0.6, rare_ok=False),
        ),
        Rule(
            "credit",
            rf"\b(?i:signed|approved|"
            rf"reviewed|prepared|submitted|witnessed|countersigned)[ \t]+(?i:by):?[ \t]+"
            rf"{not_name}(?P<pii>{_NAME_SEQ})",
            0.7,
            validate=_plausible_name(0.7),
        ),
        # A name line opening a postal address block (letters, envelopes, signatures).
        Rule(
            "name above address",
            rf"{_LINE_LEAD}(?P<pii>{_FIRST_NAME}[ \t]+{_NAME_SEQ})[ \t]*\n"
            rf"(?=(?:[ \t>?*|\-]*\n)?[ \t>?*|\-]*\d{{1,6}}[ \t]+\p{{L}})",
            0.6,
        ),
    ]


def person_recognizer() -> RegexRecognizer:
    """Names the statistical model misses: honorifics, introductions, greetings, sign-offs."""
    return RegexRecognizer(name="CuratorPersonRecognizer", entity="PERSON", rules=_person_rules())


_NAME_TOKEN = regex.compile(
    r"(?<![\p{L}\d'\u2019\-])\p{Lu}\p{Ll}+(?:['\u2019\-]\p{Lu}?\p{Ll}+)*(?![\p{L}\d])"
)
_NAME_TAIL = regex.compile(
    rf"(?:[ \t]+(?:{_PARTICLE}[ \t]+)?(?:\p{{Lu}}\.?[ \t]+)?{_NAME_WORD}(?![\p{{L}}\d])){{1,2}}"
)
_LOWER_PAIR = regex.compile(r"(?<![\p{L}\d'\u2019\-])(\p{Ll}{3,})[ \t]+(\p{Ll}{3,})(?![\p{L}\d])")
_SENTENCE_START = regex.compile(r"(?:^|[.!?:;\"“(\n])[ \t>*\-]*$")


class NameListRecognizer(LocalRecognizer):
    """Given names from a multilingual list, with the capitalised words that follow them.

    A capitalised given name followed by more name words is a person (0.7); alone it counts
    0.55, or 0.45 where it opens a sentence (capitalised anyway) without a following comma or
    colon. In lower-case text only a given name followed by a known family name counts (0.5).
    """

    def __init__(self) -> None:
        self.first_names, self.last_names = given_names()
        super().__init__(supported_entities=["PERSON"], name="CuratorNameListRecognizer")

    def load(self) -> None:
        """The name lists are loaded (once per process) by the constructor."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Report given names found in ``text`` as PERSON."""
        if "PERSON" not in entities:
            return []
        metadata = {
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        results = []
        for match in _NAME_TOKEN.finditer(text):
            if match.group().casefold() not in self.first_names:
                continue
            start, end = match.span()
            tail = _NAME_TAIL.match(text, end)
            if tail is not None:
                results.append(RecognizerResult("PERSON", start, tail.end(), 0.7, metadata))
                continue
            following = text[end : end + 2].lstrip(" \t")[:1]
            opens_sentence = _SENTENCE_START.search(text, max(0, start - 40), start)
            score = 0.45 if opens_sentence and following not in (",", ":") else 0.55
            results.append(RecognizerResult("PERSON", start, end, score, metadata))
        for match in _LOWER_PAIR.finditer(text):
            if match.group(1) in self.first_names and match.group(2) in self.last_names:
                results.append(RecognizerResult("PERSON", *match.span(), 0.5, metadata))
        return results


_LIST_OF_NAMES = regex.compile(
    rf"{_NAME_WORD}(?:(?:[ \t]*,[ \t]*(?:(?:and|or|&)[ \t]+)?|[ \t]+(?:and|or|&)[ \t]+){_NAME_WORD})+"
)
_LIST_ITEM = regex.compile(_NAME_WORD)
_NAME_PART = regex.compile(r"\p{Lu}[\p{L}'\u2019\-]{2,}")


_PRONOUNS = frozenset(
    {"i'm", "i\u2019m", "i've", "i'd", "i'll", "i\u2019ve", "i\u2019d", "i\u2019ll"}
)


def more_person_mentions(
    text: str, persons: Sequence[tuple[int, int]]
) -> list[tuple[int, int, float]]:
    """Further mentions of people already found in ``text``.

    Two conventions of writing about people: once introduced in full, a person is referred to by
    one part of the name ("directed by Maciej Borkowski and starring Borkowski"); and names are
    listed together ("founders: Eklund, Michael and Hodge"). Returns (start, end, score) spans.
    """
    if not persons:
        return []
    extra: list[tuple[int, int, float]] = []

    def is_person(start: int, end: int) -> bool:
        return any(s < end and start < e for s, e in persons)

    parts = set()
    for start, end in persons:
        words = _NAME_PART.findall(text, start, end)
        if len(words) > 1:
            parts.update(w for w in words if w.casefold() not in _COMMON_WORD_NAMES)
    if parts:
        alternatives = "|".join(regex.escape(p) for p in sorted(parts, key=len, reverse=True))
        for match in regex.finditer(rf"(?<![\p{{L}}\d])(?:{alternatives})(?![\p{{L}}\d])", text):
            if not is_person(*match.span()):
                extra.append((match.start(), match.end(), 0.6))
    for listing in _LIST_OF_NAMES.finditer(text):
        items = [m.span() for m in _LIST_ITEM.finditer(text, *listing.span())]
        if len(items) > 1 and any(is_person(*item) for item in items):
            # "Chris Curtis and I": the pronoun is no name, however a list reads.
            extra.extend(
                (s, e, 0.55)
                for s, e in items
                if not is_person(s, e) and e - s > 1 and text[s:e].casefold() not in _PRONOUNS
            )
    return extra


# ---------------------------------------------------------------------------------------------
# Street addresses

_STREET_SUFFIX = (
    "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|"
    "Sq|Terrace|Ter|Way|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Close|Crescent|Cres|Alley|Aly|"
    "Trail|Trl|Row|Walk|Gardens|Grove|Hill|Hills|Park|Plaza|Bypass|Gateway|Loop|Pike|"
    "Expressway|Expy|Freeway|Fwy|Heights|Hts|Point|Pt|Ridge|Run|View|Vista|Mews|Wharf|Quay|"
    "Crossing|Junction|Jct|Mall|Manor|Meadow|Meadows|Mill|Mills|Pass|Path|Port|Ranch|Shore|"
    "Shores|Spring|Springs|Summit|Track|Turnpike|Tpke|Valley|Village|Green|Common|Center|"
    "Centre|Cove|Creek|Estate|Estates|Field|Fields|Forest|Glen|Harbor|Harbour|Haven|Island|"
    "Isle|Knoll|Lake|Landing|Lodge|Orchard|Oval|Rise|Spur|Vale|Brook|Canyon|Cape|Causeway|"
    "Cliff|Corner|Corners|Curve|Dale|Falls|Ferry|Ford|Fork|Fort|Garden|Gate|Hollow|Inlet|Key|"
    "Neck|Prairie|Ramp|Route|Skyway|Stream|Trace|Tunnel|Bridge|Bluff|Branch|Bend|Beach|"
    "Arcade|Ways|Wynd|Chase|Drove|Parade|Esplanade|Embankment|Broadway|Str"
)
# Street-type words that other languages write before the name ("rue de la Paix 3").
_STREET_PREFIX = (
    r"rue|rua|r\.|avenue|avenida|avda\.?|av\.|calle|c/|carrer|camino|paseo|plaza|ronda|"
    r"carretera|travesía|via|viale|vicolo|piazza|piazzale|largo|corso|strada|praça|travessa|"
    r"estrada|alameda|ul\.|ulica|al\.|aleja|os\.|osiedle|pl\.|plac|bd\.|bulevar|chemin|"
    r"impasse|allée|place|quai|route|platz|straße|strasse|str\.|náměstí|nám\.|ulitsa|"
    r"prospekt|pr\.|πλατεία|οδός|λεωφόρος|odos|cesta|utca|sokak|caddesi|cad\.|sok\.|trg|"
    r"ulica|ulice|calea|strada|bulevardul|aleea|şoseaua|soseaua"
)
# Street-type words that other languages glue to the end of the name ("Hauptstraße 5").
_STREET_WORD_END = (
    r"strasse|straße|str\.|weg|gasse|platz|allee|ring|damm|ufer|steig|laan|straat|plein|"
    r"gracht|kade|dreef|singel|steeg|gade|gata|gatan|vägen|väg|veien|vei|vej|stræde|stræti|"
    r"straeti|vegur|gränd|katu|tie|kuja|polku|kaari|raitti|tee|puiestee|utca|út|ulica|"
    r"cesta|ulice|třída|sokak|sokağ\u0131|caddesi|bulvar\u0131|iela|gatvė|prospektas|tér|u\.|krt\.|"
    r"körút|köz|sor|trg|gate|vegen|vägen|tanav|maantee"
)
_DIRECTION = r"(?:[ \t]+(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\b\.?)?"
_UNIT = (
    r"(?:\d{1,2}[º°ª](?:[ \t]?[A-Z])?(?![\p{L}\d])|"
    r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Fl\.?|Floor|Room|Rm\.?|Bldg\.?|Building|"
    r"Box|Lot|Dept\.?|#)[ \t]*#?[ \t]*[\p{L}\d]{1,6}\b)"
)
_WORD = r"[\p{L}\d][\p{L}\d'\u2019.\-]*"
_CAP_WORD = r"\p{Lu}[\p{L}'\u2019.\-]*"
_HOUSE = r"\d{1,6}[A-Za-z]?"
# Trailing unit on the same line or the next one ("12 Main St, Apt. 4" / "...\n Suite 279").
_UNIT_TAIL = rf"(?:[ \t]*,?[ \t]*(?:\n[ \t>?*|\-]*)?{_UNIT})?"


def _street_rules() -> list[Rule]:
    word_end = rf"[\p{{L}}\-]*(?i:{_STREET_WORD_END})(?![\p{{L}}])"
    return [
        # US/UK/Commonwealth style: number, name words, street-type word, optional unit.
        Rule(
            "number name suffix",
            rf"(?<![\w.,\-/])(?P<pii>{_HOUSE}(?:[ \t]+\d{{1,5}})?[ \t]+(?:{_WORD}[ \t]+){{0,4}}?"
            rf"(?:{_STREET_SUFFIX})\.?(?![\p{{L}}])(?:[ \t]+(?:{_STREET_SUFFIX})\.?(?![\p{{L}}]))?"
            rf"{_DIRECTION}{_UNIT_TAIL})",
            0.7,
        ),
        # Continental style with the street type in front ("ul. Słowicza 10", "Via Roma 3").
        Rule(
            "prefix name number",
            rf"(?<![\p{{L}}])(?P<pii>(?:{_HOUSE}[ \t]+)?(?i:{_STREET_PREFIX})[ \t]+"
            rf"(?:{_WORD}[ \t]+){{0,4}}?{_HOUSE}(?![\w]|[.,]\d){_UNIT_TAIL})",
            0.7,
        ),
        Rule(
            "number prefix name",
            rf"(?<![\w.,\-/])(?P<pii>{_HOUSE}[ \t]+(?i:{_STREET_PREFIX})[ \t]+"
            rf"(?:{_WORD})(?:[ \t]+(?:{_WORD})){{0,3}}?)(?=[ \t]*(?:[,;\n]|$))",
            0.65,
        ),
        # Street type glued to the name ("Hauptstraße 5", "Koskikatu 25", "Nybyvägen 65").
        Rule(
            "name-suffix number",
            rf"(?<![\p{{L}}])(?P<pii>(?:{_HOUSE}[ \t]+)?(?=\p{{Lu}})(?:{_CAP_WORD}[ \t]+){{0,2}}{word_end}"
            rf"(?:[ \t]+{_CAP_WORD}){{0,2}}[ \t]+{_HOUSE}\.?(?![\w]|[.,]\d){_UNIT_TAIL})",
            0.7,
        ),
        # House number, capitalised name, number: common European form written number-first.
        Rule(
            "number name number",
            rf"(?<![\w.,\-/:])(?P<pii>{_HOUSE}[ \t]+(?:{_CAP_WORD}[ \t]+){{1,3}}{_HOUSE}"
            rf"(?![\w%:/]|[.,]\d){_UNIT_TAIL})",
            0.5,
        ),
        Rule(
            "post office box",
            r"(?P<pii>\b(?i:p\.?[ \t]?o\.?[ \t]*box|post[ \t]office[ \t]box|postfach|apartado|"
            r"casilla|b\.?p\.)[ \t]*\d{1,6})",
            0.7,
        ),
        # US military mail ("PSC 1234, Box 5678", "Unit 1234 Box 5678", "USNS Smith").
        Rule(
            "military",
            r"(?P<pii>\b(?:(?:PSC|Unit|CMR)[ \t]+\d{3,5},?[ \t]+Box[ \t]+\d{3,5}|"
            r"(?:USNS|USS|USNV|USCGC)[ \t]+\p{Lu}\p{Ll}+)"
            r"(?:[ \t]*,?[ \t]*\n?[ \t>?*|\-]*(?:APO|FPO|DPO)[ \t]+A[AEP][ \t]+\d{5})?)",
            0.75,
        ),
        Rule("military city", r"\b(?P<pii>(?:APO|FPO|DPO)[ \t]+A[AEP][ \t]+\d{5})\b", 0.7),
        Rule(
            "corner of",
            r"\b(?i:(?:the[ \t]+)?(?:corner|intersection|junction)[ \t]+of)[ \t]+"
            r"(?P<pii>[^\n.?!]{3,80}?[ \t]+(?i:and|&)[ \t]+[^\n?!]{3,60}?)(?=[ \t]*(?:[?!]|\.(?:\s|$)|\n|$))",
            0.6,
        ),
        Rule(
            "lives at",
            rf"\b(?i:lives?[ \t]+(?:at|on)|living[ \t]+(?:at|on)|address(?:[ \t]is)?[ \t]*:?|"
            rf"located[ \t]+at|stop[ \t]+at|send[ \t]+(?:it|them|this|a[ \t]new[ \t]one)[ \t]+to|"
            rf"ship(?:ped)?[ \t]+(?:it[ \t]+)?to|deliver(?:ed)?[ \t]+(?:it[ \t]+)?to|"
            rf"restaurant[ \t]+is[ \t]+at|off[ \t]+at)[ \t]+"
            rf"(?P<pii>(?:{_HOUSE}[ \t]+)?(?:{_CAP_WORD}[ \t]+){{1,4}}{_HOUSE}(?![\w]|[.,]\d))",
            0.65,
        ),
    ]


_POSTAL_LINE = regex.compile(
    r"(?:\b\d{4,6}\b|\b\d{3}[ \t]\d{2}\b|\b\d{2}-\d{3}\b|\b\d{4}-\d{3}\b|"
    r"\b[A-Z]\d[A-Z][ \t]?\d[A-Z]\d\b|\b[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}\b)",
    _FLAGS,
)
_UNIT_LINE = regex.compile(rf"^{_UNIT}", _FLAGS)
_POSTAL_ONLY = regex.compile(r"^[A-Z\d]{2,5}(?:[ \t\-][A-Z\d]{2,4})?$")
_BLOCK_LINE_LEAD = regex.compile(r"^[ \t>?*|\-]*")
_MAX_BLOCK_LINES = 5


def extend_address_block(text: str, end: int) -> int:
    """Extend an address ending at ``end`` over the lines that complete it.

    A postal address is often written over several short lines (unit, city, region, country
    and postal code). The block is taken up to the last of the next few lines that carries a
    postal code; without one, only unit lines are taken. It never crosses a line with ':'
    or '@' (a labelled field such as "Phone:") or more than one blank line.
    """
    line_end = text.find("\n", end)
    if line_end == -1 or text[end:line_end].strip(" \t,"):
        return end
    best = end
    units_end = end
    units_only = True
    blank = 0
    pos = line_end + 1
    for _ in range(_MAX_BLOCK_LINES):
        if pos > len(text):
            break
        nxt = text.find("\n", pos)
        nxt = len(text) if nxt == -1 else nxt
        raw = text[pos:nxt]
        lead = _BLOCK_LINE_LEAD.match(raw)
        line = raw[lead.end() if lead else 0 :].strip()
        if not line:
            blank += 1
            if blank > 1:
                break
            pos = nxt + 1
            continue
        if (
            len(line) > 48
            or len(line.split()) > 6
            or ":" in line
            or "@" in line
            or "http" in line
            or line[-1] in "?!"
            or not (any(ch.isalpha() for ch in line) or _POSTAL_ONLY.match(line))
        ):
            break
        line_stop = pos + len(raw.rstrip())
        if units_only and _UNIT_LINE.match(line):
            units_end = line_stop
        else:
            units_only = False
        if _POSTAL_LINE.search(line):
            best = line_stop
            break
        pos = nxt + 1
    return max(best, units_end)


class StreetAddressRecognizer(RegexRecognizer):
    """Street addresses in the common international forms, extended over multi-line blocks."""

    def __init__(self) -> None:
        super().__init__(
            name="CuratorStreetAddressRecognizer",
            entity="STREET_ADDRESS",
            rules=_street_rules(),
            context=["address", "street", "live", "lives", "located", "ship", "deliver"],
            gate=r"\d",
        )

        # The postal code that follows a street address on its line belongs to it.
        self.supported_entities = ["STREET_ADDRESS", "ZIP_CODE"]

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Match the street rules, then take in the rest of each multi-line address block."""
        results = super().analyze(text, ["STREET_ADDRESS"], nlp_artifacts)
        if "ZIP_CODE" in entities:
            results.extend(_trailing_postcodes(text, results))
        if "STREET_ADDRESS" not in entities:
            return [r for r in results if r.entity_type == "ZIP_CODE"]
        if "\n" in text:
            for result in results:
                if result.entity_type == "STREET_ADDRESS":
                    result.end = extend_address_block(text, result.end)
        return results


_TRAILING_POSTCODE = regex.compile(
    r"[ \t]*,?[ \t]*(?:[\p{L}.'\u2019\-]+(?:[ \t]+[\p{L}.'\u2019\-]+){0,3},?[ \t]+)?"
    r"(?:[A-Z]{2}[ \t]+)?"
    r"(?P<pii>\d{5}-\d{4}|\d{4}[ \t]?[A-Z]{2}(?![\p{L}])|\d{2}-\d{3}|\d{3}[ \t]\d{2}(?!\d)|"
    r"\d{4,6}|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})"
    r"(?![\w\-]|[.,]\d)",
    _FLAGS,
)


def _trailing_postcodes(text: str, addresses: list[RecognizerResult]) -> list[RecognizerResult]:
    found = []
    for address in addresses:
        line_end = text.find("\n", address.end)
        line_end = len(text) if line_end == -1 else line_end
        match = _TRAILING_POSTCODE.match(text, address.end, min(line_end, address.end + 60))
        if match is not None:
            start, end = match.span("pii")
            found.append(RecognizerResult("ZIP_CODE", start, end, 0.7))
    return found


# ---------------------------------------------------------------------------------------------
# Postal codes

_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|"
    "NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI"
)
_POSTCODE = r"(?:\d{4,6}|\d{3}[ \t]\d{2}|\d{2}-\d{3}|\d{4}-\d{3}|\d{5}-\d{4})"
_PLACE = (
    rf"{_CAP_WORD}(?:[ \t]+(?:(?:de|da|do|di|del|la|le|sur|am|an|upon|on|en|nad|pod)[ \t]+)?"
    rf"(?:{_CAP_WORD}|\p{{Lu}})){{0,3}}"
)


def _zip_rules() -> list[Rule]:
    return [
        Rule(
            "labelled",
            r"\b(?i:zip(?:[ \t]?code)?|postal[ \t]?code|post[ \t]?code|postcode|plz|cep|"
            r"pin[ \t]?code)[ \t]*(?i:is|:|#|no\.?)?[ \t]*"
            r"(?P<pii>[A-Z\d]{2,5}(?:[ \t\-][A-Z\d]{2,4})?)\b",
            0.8,
        ),
        Rule("us state", rf"\b(?:{_US_STATES})[ \t]+(?P<pii>\d{{5}}(?:-\d{{4}})?)\b", 0.7),
        Rule(
            "canada",
            r"\b(?P<pii>[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ \t]?\d[ABCEGHJ-NPRSTV-Z]\d)\b",
            0.65,
        ),
        Rule(
            "uk",
            r"\b(?P<pii>(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?)[ \t]?\d[ABD-HJLNP-UW-Z]{2})\b",
            0.55,
        ),
        # "... in Arendal 4844 ..." / "Mill Village NS B0J 2H0": a place followed by its code.
        Rule(
            "place code",
            rf"\b(?i:in|at|from|near|to)[ \t]+(?P<place>{_PLACE})[ \t]+"
            rf"(?P<pii>{_POSTCODE})(?![\w.,%:/])",
            0.6,
            groups={"place": "LOCATION", "pii": "ZIP_CODE"},
        ),
        # A line holding only a place and a code, as in the last line of a postal address.
        Rule(
            "place code line",
            rf"{_LINE_LEAD}(?P<place>{_PLACE})[ \t]+(?P<pii>{_POSTCODE})[ \t]*$",
            0.5,
            groups={"place": "LOCATION", "pii": "ZIP_CODE"},
        ),
    ]


def zip_code_recognizer() -> RegexRecognizer:
    """Postal codes: labelled, after a US state, Canadian/UK formats, or after a place name."""
    return RegexRecognizer(
        name="CuratorZipCodeRecognizer",
        entity="ZIP_CODE",
        rules=_zip_rules(),
        context=["zip", "postal", "postcode", "post code", "address"],
        gate=r"\d",
    )


# ---------------------------------------------------------------------------------------------
# Ages


_MAX_AGE = 125


def _age_rule(name: str, pattern: str, score: float) -> Rule:
    def validate(value: str) -> float | None:
        return score if int(value) <= _MAX_AGE else None

    return Rule(name, pattern, score, validate=validate)


def age_recognizer() -> RegexRecognizer:
    """Ages written with years-old, y/o, "aged", "age of", "turned" or "I'm N"."""
    units_after = (
        r"(?![ \t]*(?:%|percent|degrees|°|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|km|"
        r"miles?|pages?|times|x\b|dollars?|euros?|pounds?|kg|lbs?|cm|m\b|\$|€|£))"
    )
    return RegexRecognizer(
        name="CuratorAgeRecognizer",
        entity="AGE",
        rules=[
            _age_rule(
                "years old",
                r"\b(?P<pii>\d{1,3})[ \t]*[\-\s]?[ \t]*(?i:years?|yrs?|yr)[ \t]*[\-\s]?[ \t]*"
                r"(?i:old|of[ \t]+age)\b",
                0.8,
            ),
            _age_rule("y/o", r"\b(?P<pii>\d{1,3})[ \t]*(?i:y/?o|y\.o\.?|yo)\b", 0.75),
            _age_rule(
                "aged",
                rf"\b(?i:aged?|age[ \t]*[:=]|age[ \t]+(?:is|of)|ages?[ \t]+of|at[ \t]+age)"
                rf"[ \t]*(?P<pii>\d{{1,3}})\b{units_after}",
                0.7,
            ),
            _age_rule(
                "turned",
                rf"\b(?i:turn(?:s|ed|ing)?|just[ \t]+turned|will[ \t]+be|celebrat\w+[ \t]+(?:my|his|"
                rf"her|their)?)[ \t]+(?P<pii>\d{{1,3}})\b(?![ \t]*(?:st|nd|rd|th)\b){units_after}"
                rf"(?![ \t]*[\-/:.,]\d)",
                0.6,
            ),
            _age_rule(
                "i am N",
                r"\b(?i:i'm|i\u2019m|i[ \t]+am|im|he's|she's|he[ \t]+is|she[ \t]+is|who[ \t]+is)[ \t]+"
                r"(?P<pii>\d{1,3})(?=[ \t]*(?:[,.!?;)\n]|$|(?i:and|but|years?|yrs?)\b))",
                0.6,
            ),
        ],
        context=["age", "old", "born", "birthday"],
        gate=r"\d",
    )


# ---------------------------------------------------------------------------------------------
# Places introduced by a verb of living or travelling

_NOT_PLACES = (
    "The|A|An|My|Our|Your|His|Her|Their|This|That|These|Those|It|I|We|You|He|She|They|Me|Us|"
    "Them|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|"
    "April|May|June|July|August|September|October|November|December|Work|School|Home|Bed|"
    "Church|College|University|Town|Here|There|Today|Tomorrow|Mr|Mrs|Ms|Dr"
)


def location_recognizer() -> RegexRecognizer:
    """Place names after "live in", "grew up in", "originally from", "flew to" and the like."""
    verbs = (
        r"(?i:live[sd]?|living|grew[ \t]+up|born|raised|based|located|moved(?:[ \t]+here)?|"
        r"relocat\w+|resid\w+|stay\w*|flew|fly(?:ing)?|travel\w*|arrived|visit\w*|trip|"
        r"hometown[ \t]+is|native|originally|come[s]?|came|i'm|i[ \t]+am|we're|we[ \t]+are|"
        r"he's|she's|they're|went|going|headed|heading)"
    )
    return RegexRecognizer(
        name="CuratorLocationRecognizer",
        entity="LOCATION",
        rules=[
            Rule(
                "labelled",
                rf"\b(?i:where|location|city|town|village|country|hometown|birthplace|"
                rf"place[ \t]of[ \t]birth|born[ \t]in)[ \t]*:[ \t]*(?!(?:{_NOT_PLACES})\b)"
                rf"(?P<pii>{_PLACE})",
                0.6,
            ),
            Rule(
                "verb preposition place",
                rf"\b{verbs}[ \t]+(?i:in|to|at|from|of|near|outside|around)[ \t]+"
                rf"(?!(?:{_NOT_PLACES})\b)(?P<pii>{_PLACE})",
                0.6,
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Phone numbers

_PHONE_CANDIDATE = (
    r"(?<![\w+\-/.:])(?<!\d,)"
    r"(?P<pii>(?:\+|00)?(?:\(\d{1,5}\)|\d)(?:[ \t.\-]?(?:\(\d{1,5}\)|\(0\)|\d)){5,20}"
    r"(?:[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6})?)"
    r"(?!\w|-\d|/|[.,]\d)"
)
_DATE_LIKE = regex.compile(
    r"^(?:\d{4}[\-./]\d{1,2}[\-./]\d{1,2}|\d{1,2}[\-./]\d{1,2}[\-./]\d{2,4})(?:[ \t]+\d{1,2})?$"
)
_SSN_LIKE = regex.compile(r"^\d{3}-\d{2}-\d{4}$")
_ZIP4_LIKE = regex.compile(r"^\d{5}-\d{4}$")
_IP_LIKE = regex.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_NANP = regex.compile(r"^(?:\+?1[ \t.\-]?)?(?:\(\d{3}\)[ \t]?|\d{3}[ \t.\-])\d{3}[ \t.\-]\d{4}$")
_EXTENSION = regex.compile(r"[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6}$", regex.IGNORECASE)
_DIGIT = regex.compile(r"\d")


def _phone_score(value: str) -> float | None:
    number = _EXTENSION.sub("", value)
    digits = len(_DIGIT.findall(number))
    if digits < 7 or digits > 15:
        return None
    if _DATE_LIKE.match(number) or _SSN_LIKE.match(number) or _ZIP4_LIKE.match(number):
        return None
    if _IP_LIKE.match(number):
        return None
    separated = any(ch in number for ch in " .-()\t")
    bare = number.lstrip("+")
    if len(set(bare.replace(" ", "").replace("-", "").replace(".", ""))) <= 2:
        return None
    if number.startswith("00") and digits < 10:
        # "00" opens an international number only before a country code and a full number.
        return None
    if number.startswith("+") or number.startswith("00") or "(" in number:
        return 0.7
    if _NANP.match(number):
        return 0.7
    if not separated:
        # A bare run of digits is as likely an order number as a phone: context decides.
        return 0.3
    return 0.5


def phone_recognizer() -> RegexRecognizer:
    """Phone numbers in international and national formats, without per-region parsing.

    Presidio's phone recognizer runs libphonenumber's matcher once per region, which costs
    more than the whole NER pass and still misses formats of regions it was not given.
    """
    return RegexRecognizer(
        name="CuratorPhoneRecognizer",
        entity="PHONE_NUMBER",
        rules=[Rule("phone", _PHONE_CANDIDATE, 0.5, validate=_phone_score)],
        context=[
            "phone",
            "telephone",
            "tel",
            "cell",
            "mobile",
            "mob",
            "call",
            "fax",
            "desk",
            "office",
            "home",
            "work",
            "contact",
            "reach",
            "text",
            "sms",
            "whatsapp",
        ],
        gate=r"\d{2}",
    )


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_score(value: str) -> float | None:
    digits = value.replace(" ", "").replace("-", "")
    if not 12 <= len(digits) <= 19 or len(set(digits)) < 3 or not _luhn_valid(digits):
        return None
    return 0.3


def card_number_recognizer() -> RegexRecognizer:
    """Checksum-valid card numbers of any issuer prefix, reported only near card context.

    Presidio's recognizer only knows the major issuers' prefixes; a Luhn-valid 12-19 digit
    number after "card" is just as sensitive, while without context it is as likely an id.
    """
    return RegexRecognizer(
        name="CuratorCardNumberRecognizer",
        entity="CREDIT_CARD",
        rules=[
            Rule(
                "luhn",
                r"(?<![\w\-])(?P<pii>\d(?:[ \-]?\d){11,18})(?![\w\-])",
                0.3,
                validate=_card_score,
            )
        ],
        context=["card", "credit", "debit", "visa", "mastercard", "amex", "cc", "payment"],
        gate=r"\d{4}",
    )


# ---------------------------------------------------------------------------------------------
# Account, customer and member ids; dates of birth

_ID_VALUE = r"(?=[A-Z\d\-]*\d{3})[A-Z\d][A-Z\d\-]{3,24}[A-Z\d]"


def account_id_recognizer() -> RegexRecognizer:
    """Ids of a person's account with a business, only where a label says so.

    A bare number is as likely an order, a ticket or a quantity; "customer ID CUST-0048213",
    "account no. 88310472" or "member ID MBR4471902" name a person's account.
    """
    label = (
        r"(?i:(?:customer|client|account|acct|member(?:ship)?|user|subscriber|loyalty|"
        r"policy(?:holder)?|patient|student|employee|player|contract)[ \t]*"
        r"(?:id|number|no\.?|num|nr\.?|#|code|ref(?:erence)?)|"
        r"(?:id|number|no\.?)[ \t]+of[ \t]+(?:my|the)[ \t]+account|"
        r"(?:under|on)[ \t]+account(?:[ \t]+(?:no\.?|number|#))?)"
    )
    return RegexRecognizer(
        name="CuratorAccountIdRecognizer",
        entity="ACCOUNT_ID",
        rules=[
            Rule(
                "labelled id",
                rf"\b{label}[ \t]*(?:is|was|:|=|-)?[ \t]*#?[ \t]*(?P<pii>{_ID_VALUE})(?![\w\-])",
                0.75,
            )
        ],
        gate=r"\d{3}",
    )


_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_FULL_DATE = (
    r"(?:\d{1,2}[./\-]\d{1,2}[./\-](?:19|20)?\d{2}|(?:19|20)\d{2}[./\-]\d{1,2}[./\-]\d{1,2}|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?(?i:{_MONTHS}),?[ \t]+(?:19|20)\d{{2}}|"
    rf"(?i:{_MONTHS})[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+(?:19|20)\d{{2}})"
)


def date_of_birth_recognizer() -> RegexRecognizer:
    """A full date (day, month and year) introduced as someone's birth date.

    Dates alone are not personal data (meetings, deadlines, history); "born on", "date of
    birth", "DOB" or "birthday is" before a full date make it one.
    """
    return RegexRecognizer(
        name="CuratorDateOfBirthRecognizer",
        entity="DATE_OF_BIRTH",
        rules=[
            Rule(
                "labelled birth date",
                r"\b(?i:date[ \t]+of[ \t]+birth|birth[ \t]?date|d\.?o\.?b\.?|born(?:[ \t]+on)?|"
                r"birthday(?:[ \t]+is)?|geburtsdatum|geboren(?:[ \t]+am)?|n[ée]e?[ \t]+le)"
                rf"[ \t]*(?:is|was|:|-)?[ \t]*(?P<pii>{_FULL_DATE})(?![\d])",
                0.8,
            )
        ],
        gate=r"\d{2}",
    )


@dataclass(frozen=True, slots=True)
class CuratorRecognizers:
    """The recognizers this module adds, and the Presidio classes they replace."""

    added: list[LocalRecognizer] = field(default_factory=list)
    replaces: frozenset[str] = frozenset()


def curator_recognizers() -> CuratorRecognizers:
    """Build this module's recognizers (one set per engine; they hold compiled patterns)."""
    return CuratorRecognizers(
        added=[
            OfflineEmailRecognizer(),
            phone_recognizer(),
            card_number_recognizer(),
            person_recognizer(),
            NameListRecognizer(),
            StreetAddressRecognizer(),
            zip_code_recognizer(),
            age_recognizer(),
            location_recognizer(),
            account_id_recognizer(),
            date_of_birth_recognizer(),
            UkNinoRecognizer(),
        ],
        replaces=frozenset({"EmailRecognizer", "PhoneRecognizer"}),
    )
