"""Person names: honorifics, self-introductions, greetings, relations and sign-offs, a
recognizer that confirms lower-case and listed names, and the further mentions of a name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import regex
from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from curation.pii.evidence import COMMON_WORD_NAMES as _COMMON_WORD_NAMES
from curation.pii.evidence import given_names, is_notable, lexicon
from curation.pii.recognizers.base import LINE_LEAD, RegexRecognizer, Rule, Validator

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
# Abbreviations take a full stop ("Mr. Okafor"); after a whole word a full stop ends the
# sentence ("Sir/Madam. Unfortunately, ...").
_HONORIFIC = (
    r"(?:(?:Mr|Mrs|Ms|Mss|Mx|Dr|Prof|Mme|Mlle|Sr|Sra|Srta|Rev|Fr|Capt|Sgt|Lt|Col|Gen|Hon)\.?|"
    r"(?:Miss|Sir|Dame|Lord|Lady|Madam|Herr|Frau|Judge|Rabbi|Imam|Father|Sister|Brother|Aunt|"
    r"Uncle)(?!\.))"
)
_GREETING = (
    r"(?:Hi|Hello|Hey|Dear|Hiya|Howdy|Greetings|Good[ \t](?:morning|afternoon|evening)|"
    r"Thanks|Thank[ \t]you|Cheers|Bye|Goodbye|Welcome|Congratulations|Congrats|Sorry)"
)
_RELATIONS = (
    r"kid|kids|son|daughter|wife|husband|partner|spouse|boyfriend|girlfriend|friend|brother|"
    r"sister|mom|mum|mother|dad|father|boss|colleague|coworker|co-worker|neighbou?r|child|"
    r"baby|uncle|aunt|cousin|nephew|niece|grandson|granddaughter|grandma|grandpa|grandmother|"
    r"grandfather|fianc[ée]e?|manager|teacher|student|doctor|lawyer|landlord|tenant|client|"
    r"patient|roommate|classmate|assistant|employee|supervisor|stepson|stepdaughter"
)


def _plausible_name(score: float, *, rare_ok: bool = True, public_ok: bool = True) -> Validator:
    """A rule found a capitalised phrase where a name is expected; is it one?

    At least one of its words must be a listed given or family name, or a word too rare in
    English (wordfreq) to be an ordinary one: "Dear Hiring Manager" and "Thank you, Assistant"
    are not names, "Dear Olga" and "Dear Mr. Okafor" are. After weaker cues (a verb such as
    "visit" or "call") only listed names count: "visit Machu Picchu" is no person, and
    neither is a public figure ("I met Barack Obama").
    """

    def validate(value: str) -> float | None:
        if not public_ok and is_notable(value, personal=True):
            return None
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
            rf"(?<![\p{{L}}.])(?P<pii>{_HONORIFIC}[ \t]+{not_name}{_NAME_SEQ})",
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
        # Romanised Hindi: "mera naam Rohan Sharma hai", "naam: priya", "naam hai Rahul".
        Rule(
            "naam",
            rf"\b(?i:mera[ \t]+naam|meri[ \t]+naam|naam)[ \t]*(?i:hai|he|h|is|:|-)?[ \t]*"
            rf"(?P<pii>{lower_word}(?:[ \t]+(?!(?i:hai|he|h|aur|and|hain|ji)\b){lower_word})?)",
            0.8,
            validate=_plausible_name(0.8, rare_ok=False),
        ),
        Rule(
            "introduction",
            rf"\b(?i:i'm|i[ \t]+am|i\u2019m|call[ \t]+me|this[ \t]+is|it's|it\u2019s|they[ \t]+call[ \t]+me|"
            rf"named|called|name's)[ \t]+{not_name}(?P<pii>{_NAME_SEQ})"
            rf"(?=[ \t]*(?:[,.!;:)\n]|$|(?i:and|from|here|speaking|by|calling|writing|again)\b))",
            0.65,
            validate=_plausible_name(0.65),
        ),
        # Chat self-introductions by name alone: "Courtney from accounting here.", "Hi, Sam here".
        Rule(
            "name here",
            rf"(?:^|(?<=[.!?,:;\n])|(?<=\b(?i:{_GREETING})))[ \t]*{not_name}(?P<pii>{_NAME_SEQ})[ \t]+"
            rf"(?:(?i:from|in|at|with)[ \t]+(?:[\p{{L}}&'\-]+[ \t]+){{1,3}})?(?i:here)(?=[ \t]*(?:[,.!;:\n]|$))",
            0.65,
            validate=_plausible_name(0.65, rare_ok=False),
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
            rf"{LINE_LEAD}(?i:patient|customer|client|applicant|tenant|landlord|guest|"
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
            validate=_plausible_name(0.6, rare_ok=False, public_ok=False),
        ),
        Rule(
            "write to",
            rf"\b(?i:reply|write|talk|speak|forward[ \t]+(?:it|this|everything|them)|"
            rf"send[ \t]+(?:it|this|them|everything))[ \t]+(?i:to)[ \t]+"
            rf"{not_name}(?P<pii>{_NAME_SEQ})",
            0.6,
            validate=_plausible_name(0.6, rare_ok=False, public_ok=False),
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
        # Chat sign-offs are often lower case and on the same line: "Sincerely, john".
        Rule(
            "lower-case sign-off",
            r"(?i:regards|sincerely|cheers|thanks|thank[ \t]you|yours(?:[ \t]truly)?)[ \t]*,"
            r"[ \t]*\n?[ \t]*(?P<pii>\p{Ll}{3,}(?:[ \t]+\p{Ll}{3,})?)[ \t.!]*$",
            0.7,
            validate=_plausible_name(0.7, rare_ok=False),
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
            validate=_plausible_name(0.6, rare_ok=False, public_ok=False),
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
            rf"{LINE_LEAD}(?P<pii>{_FIRST_NAME}[ \t]+{_NAME_SEQ})[ \t]*\n"
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

    name: str  # set by Presidio's EntityRecognizer.__init__, which mypy cannot infer

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
                results.append(
                    RecognizerResult(
                        "PERSON", start, tail.end(), 0.7, recognition_metadata=metadata
                    )
                )
                continue
            following = text[end : end + 2].lstrip(" \t")[:1]
            opens_sentence = _SENTENCE_START.search(text, max(0, start - 40), start)
            score = 0.45 if opens_sentence and following not in (",", ":") else 0.55
            results.append(
                RecognizerResult("PERSON", start, end, score, recognition_metadata=metadata)
            )
        for match in _LOWER_PAIR.finditer(text):
            if match.group(1) in self.first_names and match.group(2) in self.last_names:
                start, end = match.span()
                results.append(
                    RecognizerResult("PERSON", start, end, 0.5, recognition_metadata=metadata)
                )
        return results


_LIST_OF_NAMES = regex.compile(
    rf"{_NAME_WORD}(?:(?:[ \t]*,[ \t]*(?:(?:and|or|&)[ \t]+)?|[ \t]+(?:and|or|&)[ \t]+){_NAME_WORD})+"
)
_LIST_ITEM = regex.compile(_NAME_WORD)
_NAME_PART = regex.compile(r"\p{Lu}[\p{L}'\u2019\-]{2,}")


def _common_unlisted(lex: Any, word: str) -> bool:
    return lex.zipf(word) >= _LIST_COMMON_ZIPF and word not in lex.first and word not in lex.last


_LIST_COMMON_ZIPF = 4.0

_PRONOUNS = frozenset(
    {"i'm", "i\u2019m", "i've", "i'd", "i'll", "i\u2019ve", "i\u2019d", "i\u2019ll"}
)
# "Hi, Sam here" is a greeting and a name, not a list of two names.
_NOT_NAME_WORDS = frozenset(word.rstrip("?").casefold() for word in _NOT_NAMES.split("|"))


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

    parts: set[str] = set()
    for start, end in persons:
        words = _NAME_PART.findall(text, start, end)
        if len(words) > 1:
            parts.update(w for w in words if w.casefold() not in _COMMON_WORD_NAMES)
    if parts:
        alternatives = "|".join(regex.escape(p) for p in sorted(parts, key=len, reverse=True))
        for match in regex.finditer(rf"(?<![\p{{L}}\d])(?:{alternatives})(?![\p{{L}}\d])", text):
            if not is_person(*match.span()):
                extra.append((match.start(), match.end(), 0.6))
    lex = lexicon()
    for listing in _LIST_OF_NAMES.finditer(text):
        items = [
            m.span()
            for m in _LIST_ITEM.finditer(text, *listing.span())
            # "Name: Priya Sharma, Address: …": a common word listed after a name is no name.
            if not _common_unlisted(lex, m.group().casefold())
        ]
        if len(items) > 1 and any(is_person(*item) for item in items):
            # "Chris Curtis and I": the pronoun is no name, however a list reads.
            extra.extend(
                (s, e, 0.55)
                for s, e in items
                if not is_person(s, e)
                and e - s > 1
                and text[s:e].casefold() not in _PRONOUNS
                and text[s:e].casefold() not in _NOT_NAME_WORDS
            )
    return extra
