"""Evidence that a candidate span is personal data, and the places where nothing is.

The statistical NER tags any capitalised word it cannot place (``True``, ``Chicken``,
``Cook``, ``Java``) as a person, and public figures are persons too. A PERSON candidate that
only the NER or the name list found must therefore pass three checks before it is reported:

- shape: every word is a name-like word (a capital, then lower-case letters; initials and
  particles allowed), no dots, digits or brackets inside (``items.reduce``, ``Varchar(255``);
- it is a name: a given name from Faker's multilingual name lists opens it, or a family name
  from those lists closes it; ordinary English words (``wordfreq``) are only accepted as
  names when both ends are listed names; ``probablepeople`` must not read it as a company;
- the person is private: the message speaks about the writer's own life (first-person words,
  a greeting or sign-off, or contact details nearby). An encyclopedic question about
  Einstein has none of these, while "my colleague Priya Raman" or a letter has. A single word
  also needs this and must not be a common English word.

A full name of a globally known person (Pantheon 1.0: a biography in more than 25 Wikipedia
languages) is never a private person's; a fictional character's full name (Wikipedia's
"Fictional characters" category tree) is not one either where the message says nothing of the
writer's own life ("Write an essay on Atticus Finch"). Both lists are in ``data/`` with the
script that builds them and their sources.

Candidates that context rules found ("my name is …", "Dear …", "my wife …") carry their own
evidence and are not checked here.

Text inside fenced code blocks and inline code is code: only identifiers that are personal
data whatever surrounds them (e-mail addresses, card numbers, IBANs, national ids, IP
addresses) are reported there.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import unicodedata
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path

import regex

# Entity types reported inside code: values that are personal data wherever they appear.
CODE_SAFE_ENTITIES = frozenset(
    {"EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "UK_NHS", "UK_NINO", "CRYPTO"}
)

_FENCE = regex.compile(r"(?ms)^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)")
_INLINE = regex.compile(r"(?<!`)(`{1,2})(?!`)(.+?)(?<!`)\1(?!`)", regex.DOTALL)


def code_regions(text: str) -> list[tuple[int, int]]:
    """Character ranges of fenced code blocks and inline code spans in Markdown-ish text."""
    if "`" not in text and "~~~" not in text:
        return []
    regions = [m.span() for m in _FENCE.finditer(text)]

    def inside(pos: int) -> bool:
        return any(s <= pos < e for s, e in regions)

    regions.extend(m.span() for m in _INLINE.finditer(text) if not inside(m.start()))
    return sorted(regions)


def in_regions(start: int, end: int, regions: Sequence[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in regions)


# -- name lists ----------------------------------------------------------------------------

# Given names that are also everyday English words, months, places or brands: a capitalised
# one alone is not evidence of a person.
COMMON_WORD_NAMES = frozenset(
    """
    will may june april august january march grace hope joy faith mark bill rose art summer
    autumn winter spring page dawn max amber ray jack frank guy chase hunter dean drew miles
    king young love christian china india jordan paris victoria georgia virginia florence
    israel egypt kenya can street sunday monday tuesday wednesday thursday friday saturday
    best long good man star ever said son don pace key dale gay sol luz paz bo sky river storm
    rain ivy holly daisy lily violet ruby pearl crystal jewel angel hero tiger honey sugar candy
    ginger pepper sandy carol lane wade earl major prince sterling price wolf fox bear buck
    bishop baker carter cook mason porter taylor walker ward rich rob pat sue gene pet else
    eve val van del per jan mo jo al ed an do la le
    de di da du el un une the you she her his him are not how who why via das der die den
    august october november december september february july happy merry lucky early noble
    precious royal sunny unique miracle memory harmony melody liberty justice trinity genesis
    destiny heaven paradise journey story blue green gray grey brown black white golden silver
    north south east west us usa uk europe asia africa america american english french german
    apple google amazon mercedes porsche tesla lincoln ford chevy dodge jaguar lexus bentley
    santa santo saint san sun moon mars venus nova luna sierra alpha echo delta bravo
    meta siri alexa cortana gemini claude llama vicuna alpaca falcon mistral
    """.split()  # noqa: SIM905 - a word list reads better as text
)


# Romanised Hindi function words ("kya", "bilkul", "theek"): the name lists carry some of them as
# names, and in Hinglish chat they open sentences capitalised.
ROMANISED_HINDI = frozenset(
    """
    kya kyu kyun kyon hai hain ho hoga hogi nahi nahin haan han ji bhai yaar yar aap aapka
    aapki aapke apna apni mera meri mere mujhe humein hum tum kuch abhi bilkul theek thik
    accha acha achha toh bahut sab koi kaise kab kahan wala wali raha rahi rahe bata batao
    dijiye kijiye karo karke kar lekin aur par bhi mein jaldi zaroor zarur shukriya dhanyavad
    namaste arrey arre arey acchha matlab sirf pehle baad phir wapas paisa paise aur ek se ke
    ki ka ko pe ne tak liye haina bolo dekho suno chalo
    """.split()  # noqa: SIM905 - a word list reads better as text
)


@lru_cache(maxsize=1)
def given_names() -> tuple[frozenset[str], frozenset[str]]:
    """First and last names from Faker's person providers of every locale, case-folded.

    These are the multilingual name lists Faker ships for generating test data; as a
    gazetteer they catch names the small spaCy model does not tag, including non-English ones.
    """
    import faker.providers.person as person_providers

    first: set[str] = set()
    last: set[str] = set()
    for module_info in pkgutil.iter_modules(person_providers.__path__):
        module = importlib.import_module(f"{person_providers.__name__}.{module_info.name}")
        provider = getattr(module, "Provider", None)
        for attr, target in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("first_names_nonbinary", first),
            ("last_names", last),
            # Japanese, Chinese and Korean providers also list names in Latin letters.
            ("first_romanized_names", first),
            ("first_romanized_names_male", first),
            ("first_romanized_names_female", first),
            ("last_romanized_names", last),
        ):
            values = getattr(provider, attr, None)
            if isinstance(values, dict | list | tuple | set | frozenset):
                target.update(
                    str(v).casefold() for v in values if " " not in str(v) and len(str(v)) > 2
                )
    from spacy.lang.en.stop_words import STOP_WORDS

    common = COMMON_WORD_NAMES | STOP_WORDS | ROMANISED_HINDI
    return frozenset(first - common), frozenset(last - common)


# -- personal context ----------------------------------------------------------------------

_SINGULAR = regex.compile(
    r"(?i)(?<![\p{L}'])(?:i|i'm|i\u2019m|i've|i'd|i'll|me|my|mine|myself|"
    r"hi|hello|hey|dear|regards|sincerely|cheers|yours|thanks|thank[ \t]+you)(?![\p{L}'])"
)
_PLURAL = regex.compile(r"(?i)(?<![\p{L}'])(?:we|we're|our|ours|us)(?![\p{L}'])")
# Ways of addressing the assistant that contain "me" without being about the writer's life.
_REQUEST = regex.compile(
    r"(?i)\b(?:tell|give|show|help|let|remind|teach|quiz|explain[ \t]+to|walk)[ \t]+me\b"
)
# A request for knowledge: "our" in it is everyone's ("our understanding of black holes").
_KNOWLEDGE = regex.compile(
    r"(?i)^[ \t>*\-]*(?:explain|summari[sz]e|describe|compare|define|who|what|why|how|when|"
    r"where|which|tell[ \t]+me[ \t]+about)\b"
)


def has_personal_context(text: str) -> bool:
    """Whether the text talks about the writer's own life (first person, greetings, letters)."""
    for match in _SINGULAR.finditer(text):
        if match.group().lower() == "me":
            before = text[max(0, match.start() - 16) : match.end()]
            if _REQUEST.search(before):
                continue
        return True
    return _PLURAL.search(text) is not None and _KNOWLEDGE.search(text) is None


# -- names -----------------------------------------------------------------------------------

# "Maria", "O'Brien", "McAllister", "Al-Farsi", "Jean-Luc".
_NAME_WORD = regex.compile(
    r"^(?:\p{Lu}['\u2019])?\p{Lu}\p{Ll}+(?:(?:['\u2019\-]?\p{Lu}|['\u2019\-])\p{Ll}+)*$"
)
_INITIAL = regex.compile(r"^\p{Lu}\.?$")
_PARTICLES = frozenset(
    "van von der den de del della di da dos das du le la ter ten bin ibn al y st jr sr".split()  # noqa: SIM905
)
_TRIM = regex.compile(r"(?:['\u2019]s?|[.,;:!?)\]])+$")
_COMMON_ZIPF = 3.5
# A single listed name more frequent than this is as likely the word ("Will", "Bill", "Cook").
_SINGLE_ZIPF = 4.5


class _Lexicon:
    """Name lists and word frequencies, loaded once per process (about 60 MB together)."""

    def __init__(self) -> None:
        from wordfreq import zipf_frequency

        self.first, self.last = given_names()
        self.names = self.first | self.last
        self._zipf = zipf_frequency
        self._cache: dict[str, float] = {}

    def zipf(self, word: str) -> float:
        value = self._cache.get(word)
        if value is None:
            value = self._zipf(word, "en")
            if len(self._cache) < 200_000:
                self._cache[word] = value
        return value


_LEXICON: _Lexicon | None = None
_LEXICON_LOCK = threading.Lock()


def lexicon() -> _Lexicon:
    global _LEXICON
    if _LEXICON is None:
        with _LEXICON_LOCK:
            if _LEXICON is None:
                _LEXICON = _Lexicon()
    return _LEXICON


_NOTABLE_FILE = Path(__file__).resolve().parent / "data" / "notable_names.txt"


@cache
def notable_names() -> tuple[frozenset[str], frozenset[str]]:
    """(public figures, fictional characters): case-folded full names from ``data/``."""
    public: set[str] = set()
    fictional: set[str] = set()
    for line in _NOTABLE_FILE.read_text(encoding="utf-8").splitlines():
        kind, _, name = line.partition("\t")
        (public if kind == "p" else fictional).add(name)
    return frozenset(public), frozenset(fictional)


def is_notable(name: str, *, personal: bool) -> bool:
    """Whether ``name`` is a public figure's full name, or (outside the writer's own life) a
    fictional character's."""
    key = unicodedata.normalize("NFC", " ".join(name.split())).casefold()
    public, fictional = notable_names()
    return key in public or (not personal and key in fictional)


def warm_up_evidence() -> None:
    """Load everything the checks read, so that no detection pays for it."""
    lexicon().zipf("warm")
    _is_company("Jane Doe")
    notable_names()


@lru_cache(maxsize=4096)
def _is_company(name: str) -> bool:
    import probablepeople

    try:
        return probablepeople.tag(name)[1] == "Corporation"
    except probablepeople.RepeatedLabelError:
        return False


def person_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The part of ``text[start:end]`` a name would occupy: without "the", possessive "'s"."""
    value = text[start:end]
    trimmed = _TRIM.sub("", value.rstrip())
    if not trimmed:
        return None
    end = start + len(trimmed)
    if trimmed.lower().startswith("the "):
        return None
    return start, end


# "the" or a capitalised word that does not open the sentence, right before the candidate.
_BEFORE_PROPER = regex.compile(r"(?:\b[Tt]he|(?<=[\p{L}\d,;][ \t]+)\p{Lu}[\p{L}'\u2019\-]*)[ \t]+$")
# Head nouns of places, buildings and institutions: "Bryce Canyon" and "Mercy Hospital" are
# not people, whatever the name lists say about "Bryce" and "Mercy".
_PLACE_HEADS = frozenset(
    """canyon mountain mountains mount lake river bay island islands beach valley falls desert
    ocean sea gulf peninsula cape glacier volcano national park square airport station bridge
    tower palace castle cathedral church temple mosque museum gallery university college
    school academy institute hospital clinic hotel restaurant cafe bank company corporation
    inc ltd llc group foundation empire kingdom republic dynasty province county city state
    street road avenue boulevard center centre stadium arena theatre theater library zoo""".split()  # noqa: SIM905
)
_SINGLE_FOLLOW = regex.compile(r"[ \t]*(?:[,.!?;:)\n]|$)")


def looks_like_private_name(text: str, start: int, end: int, *, personal: bool) -> bool:
    """Whether a NER or name-list PERSON candidate is evidence enough of a private person."""
    if _BEFORE_PROPER.search(text, max(0, start - 40), start):
        # Part of a longer proper noun ("the Maasai Mara", "Grand Canyon"), or after "the".
        return False
    if _PLACE_BEFORE.search(text, max(0, start - 20), start):
        return False
    words = text[start:end].split()
    if not words or len(words) > 5:
        return False
    names = []
    for word in words:
        if _INITIAL.match(word) or word.lower() in _PARTICLES:
            continue
        if not _NAME_WORD.match(word):
            return False
        names.append(word)
    if not names or names[-1].casefold() in _PLACE_HEADS:
        return False
    lex = lexicon()
    folded = [w.casefold() for w in names]
    first_listed = folded[0] in lex.first
    last_listed = folded[-1] in lex.last or folded[-1] in lex.first
    if len(names) == 1:
        # A lone name in running text ("a classic Margherita pizza", "in Rome if") is more
        # often an attribute or a place than a person being talked about.
        if not personal or not _SINGLE_FOLLOW.match(text, end):
            return False
        return (first_listed or last_listed) and lex.zipf(folded[0]) < _SINGLE_ZIPF
    surname = folded[-1] in lex.last or lex.zipf(folded[-1]) < _RARE_ZIPF
    if not ((first_listed and surname) or folded[-1] in lex.last):
        return False
    if _shared_head(text, start, end, names[0], names[-1]):
        return False
    if is_notable(" ".join(words), personal=personal):
        return False
    common = all(lex.zipf(w) >= _COMMON_ZIPF for w in folded)
    if common and not (first_listed and last_listed):
        return False
    # Without the writer's own life around it, only a full name of a listed given name and a
    # family name, outside a request for knowledge ("Who was …", "Explain …").
    if not personal and (not (first_listed and surname) or _in_knowledge_request(text, start)):
        return False
    return not _is_company(" ".join(words))


_RARE_ZIPF = 3.0


_UPPER = regex.compile(r"\p{Lu}")
# The longest stretch a name word (``_NAME_WORD``) can occupy: letters, apostrophes, hyphens.
_NAME_RUN = regex.compile(r"[\p{L}'\u2019\-]+")
# What ``_TRIM`` strips from the end of a span, read from its last character back.
_TRIM_CHARS = frozenset(".,;:!?)]'\u2019")
_APOSTROPHES = frozenset("'\u2019")


def holds_listed_name(text: str) -> bool:
    """Whether some stretch of ``text`` matches ``_NAME_WORD`` and is on a name list, wherever
    it starts and ends: the tokenizer-free first half of ``may_name_listed_person`` (when this
    is False, so is that)."""
    names = lexicon().names
    for upper in _UPPER.finditer(text):
        start = upper.start()
        run_end = _NAME_RUN.match(text, start).end()  # type: ignore[union-attr]  # the capital itself matches
        for end in range(start + 1, run_end + 1):
            word = text[start:end]
            if word.casefold() in names and _NAME_WORD.match(word):
                return True
    return False


def may_name_listed_person(text: str, tokens: Sequence[tuple[int, int]]) -> bool:
    """Whether a NER PERSON span over ``tokens`` (their (start, end) offsets) could pass
    ``looks_like_private_name``; when this is False no NER span in ``text`` can.

    A span that passes holds a word (a whitespace-separated part of the span, after
    ``person_span`` trimmed it) that matches ``_NAME_WORD`` and is on a name list: its first
    word in the given names, or its last in the family or given names. NER spans start and
    end at token boundaries, so such a word starts at a token's start or after whitespace,
    and ends at a token's end, at that end less what ``_TRIM`` strips, or before whitespace.
    This looks for any such word; it needs the tokens, not the NER.
    """
    if not text:
        return False
    starts = set()
    ends = set()
    for start, end in tokens:
        starts.add(start)
        ends.add(end)
        ends.add(_trimmed_end(text, end))
    names = lexicon().names
    for upper in _UPPER.finditer(text):
        start = upper.start()
        if start not in starts and not (start and text[start - 1].isspace()):
            continue
        run_end = _NAME_RUN.match(text, start).end()  # type: ignore[union-attr]  # the capital itself matches
        for end in range(start + 1, run_end + 1):
            if end not in ends and not (
                end == run_end and (end == len(text) or text[end].isspace())
            ):
                continue
            word = text[start:end]
            if word.casefold() in names and _NAME_WORD.match(word):
                return True
    return False


def _trimmed_end(text: str, end: int) -> int:
    """Where ``person_span``'s ``_TRIM`` would end a span that ends at ``end``."""
    while end > 0:
        if text[end - 1] in _TRIM_CHARS:
            end -= 1
        elif text[end - 1] == "s" and end > 1 and text[end - 2] in _APOSTROPHES:
            end -= 2
        else:
            break
    return end


# Where places go: "visit Petra", "in Wadi Rum". ("to" and "from" take people as often.)
_PLACE_BEFORE = regex.compile(
    r"(?i)\b(?:in|at|near|visit|visiting|visited|around|across|through|via|towards?)[ \t]+$"
)
_WORD_BEFORE = regex.compile(r"(\p{Lu}[\p{L}'\u2019\-]*\.?)[ \t]+$")
_HONORIFIC_WORD = regex.compile(
    r"(?i)^(?:mr|mrs|ms|miss|mx|dr|prof|sir|dame|lord|lady|madam|herr|frau|mme)\.?$"
)


def _shared_head(text: str, start: int, end: int, first: str, last: str) -> bool:
    """Whether the last word also follows other capitalised words ("Basmati Rice or Jasmine
    Rice"): then it is the head of compound nouns, not a family name."""
    position = text.find(last)
    while position != -1:
        after = position + len(last)
        standalone = not (after < len(text) and (text[after].isalnum() or text[after] == "_"))
        if standalone and not start <= position < end:
            match = _WORD_BEFORE.search(text, max(0, position - 40), position)
            if match is not None:
                before = match.group(1)
                if before != first and not _HONORIFIC_WORD.match(before):
                    return True
        position = text.find(last, after)
    return False


# A sentence ends at ! ? or a line break, or at a full stop that does not close an initial.
_SENTENCE_END = regex.compile(r"[!?\n]|(?<!(?:^|[^\p{L}])\p{Lu})\.")


def _in_knowledge_request(text: str, position: int) -> bool:
    """Whether the sentence around ``position`` asks about the world (public figures)."""
    start = 0
    for match in _SENTENCE_END.finditer(text, 0, position):
        start = match.end()
    return _KNOWLEDGE.match(text[start:position].lstrip()) is not None
