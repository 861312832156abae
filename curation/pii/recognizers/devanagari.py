"""Names written in Devanagari, in any message that has Devanagari letters (whatever the
dataset's languages).

The name lists are Faker's ``hi_IN`` person provider (364 given names, 104 family names in
Devanagari, inside the installed package). Many Hindi given names are also everyday words
("अमर" immortal, "आनन्द" joy), so a listed word is a name only

- as a full name: a listed given name followed by a listed family name ("अमित शर्मा"), or
- after a cue: "मेरा नाम … है", "नाम: …", an honorific before it ("श्री", "श्रीमती", "डॉ.")
  or "जी" after a listed given or family name ("शर्मा जी").

Romanised Hindi ("mera naam … hai") is handled with the English rules (``persons.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import regex

DEVANAGARI = regex.compile(r"\p{Devanagari}")

# A Devanagari word: letters and combining signs (virama, nukta, vowel signs); ZWJ/ZWNJ join
# conjuncts as written in some names ("अनन्‍त").
_WORD = r"[\p{Devanagari}\u200c\u200d]+"
# Words that are no name where one may stand: the copula, conjunctions, postpositions, and a
# question or request for the name ("आपका नाम क्या है?", "अपना नाम बताएं").
_STOP = (
    r"(?:है|हैं|हूँ|हूं|था|थी|और|या|का|की|के|को|से|में|पर|ने|जी|भी|तो|ही|नहीं|क्या|कौन|"
    r"बताएं|बताएँ|बताइए|बताइये|बताओ|बताना|बता|लिखें|लिखिए|दें|दीजिए|चाहिए|पूरा|सही)"
)
# "मेरा नाम … है" (a statement about a name) or "नाम: …" (a field).
_CUED = regex.compile(
    rf"(?:(?:मेरा|मेरी|आपका|उनका|इनका)[ \t]*नाम[ \t]*(?:है|हैं)?[ \t]*[:\-\u2013]?[ \t]*|"
    rf"नाम[ \t]*(?:है[ \t]*)?[:\-\u2013][ \t]*|"
    rf"(?:श्री|श्रीमती|सुश्री|कुमारी|डॉ\.?|डॉक्टर)[ \t]+)"
    rf"(?P<pii>(?!{_STOP}(?![\p{{Devanagari}}]))(?:{_WORD})"
    rf"(?:[ \t]+(?!{_STOP}(?![\p{{Devanagari}}])){_WORD}){{0,2}})"
)
_TOKENS = regex.compile(_WORD)
_JI = regex.compile(r"[ \t]+जी(?![\p{Devanagari}])")


@cache
def _names() -> tuple[frozenset[str], frozenset[str]]:
    """Faker's hi_IN given and family names, with and without the joiners some are written with."""
    import faker.providers.person.hi_IN as hindi

    def forms(words: object) -> frozenset[str]:
        out = set()
        for word in words:  # type: ignore[attr-defined]
            out.add(word)
            out.add(word.replace("\u200d", "").replace("\u200c", ""))
        return frozenset(out)

    provider = hindi.Provider
    return forms(provider.first_names), forms(provider.last_names)


def devanagari_names(text: str) -> Iterator[tuple[int, int, str, float]]:
    """PERSON spans in the Devanagari parts of ``text``."""
    if DEVANAGARI.search(text) is None:
        return
    given, family = _names()
    for match in _CUED.finditer(text):
        yield *match.span("pii"), "PERSON", 0.85
    tokens = list(_TOKENS.finditer(text))
    for index, token in enumerate(tokens):
        word = token.group()
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if (
            word in given
            and following is not None
            and following.group() in family
            and not text[token.end() : following.start()].strip()
        ):
            yield token.start(), following.end(), "PERSON", 0.8
        elif (word in given or word in family) and _JI.match(text, token.end()):
            yield token.start(), token.end(), "PERSON", 0.8


def warm_up() -> None:
    _names()
