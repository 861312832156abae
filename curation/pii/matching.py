"""Finding the other occurrences of a redacted value: one matcher, two ways to run it.

A value found once is redacted wherever else it stands alone in the conversation, in any
letter case and with any run of whitespace between its words. That is one regular
expression per conversation, and compiling it (Python parses the pattern in Python) cost a
quarter of a version build's CPU: each conversation's values are new, so the `re` cache
never hits. Text and values that are all ASCII are therefore searched with string methods,
which find exactly the spans the expression finds; anything else still goes through it.

Why the two agree on ASCII text: with IGNORECASE, an ASCII pattern letter matches an ASCII
text letter when their lower cases are equal (the extra case pairs `re` knows, like the long
s or the Kelvin sign, are not ASCII); `\\s` and "a letter or digit" are `str.isspace` and
`str.isalnum` there; and `finditer` takes, left to right and without overlap, the earliest
position where an alternative matches, the first alternative in order at that position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A letter or digit: a word character that is not the underscore.
_WORD_CHAR = r"[^\W_]"


class ValueMatcher:
    """Stand-alone, case-insensitive occurrences of `values` (casefolded, words separated by
    one space, in order of preference: the first that matches at a position wins)."""

    def __init__(self, values: Sequence[str]) -> None:
        self.values = tuple(values)
        self._words = [value.split() for value in self.values]
        self._ascii = all(value.isascii() for value in self.values)
        self._pattern: re.Pattern[str] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            self._pattern = re.compile(
                rf"(?<!{_WORD_CHAR})(?:"
                + "|".join(r"\s+".join(re.escape(word) for word in words) for words in self._words)
                + rf")(?!{_WORD_CHAR})",
                re.IGNORECASE,
            )
        return self._pattern

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every occurrence, left to right, none overlapping."""
        if self._ascii and text.isascii():
            return self._ascii_spans(text)
        return [match.span() for match in self.pattern.finditer(text)]

    def _ascii_spans(self, text: str) -> list[tuple[int, int]]:
        lowered = text.lower()  # the same length as the text: it is ASCII
        size = len(lowered)
        candidates: list[tuple[int, int, int]] = []
        for order, words in enumerate(self._words):
            first = words[0]
            start = lowered.find(first)
            while start != -1:
                end = _match_rest(lowered, start + len(first), words)
                if (
                    end != -1
                    and not (start and lowered[start - 1].isalnum())
                    and not (end < size and lowered[end].isalnum())
                ):
                    candidates.append((start, order, end))
                start = lowered.find(first, start + 1)
        candidates.sort()
        spans: list[tuple[int, int]] = []
        position = 0
        for start, _, end in candidates:
            if start >= position:
                spans.append((start, end))
                position = end
        return spans


def _match_rest(lowered: str, position: int, words: list[str]) -> int:
    """Where the value ends when its later words follow `position`, each after whitespace;
    -1 when they do not. The first word is already matched."""
    size = len(lowered)
    for word in words[1:]:
        after = position
        while after < size and lowered[after].isspace():
            after += 1
        if after == position or not lowered.startswith(word, after):
            return -1
        position = after + len(word)
    return position
