"""ValueMatcher on non-ASCII text with ASCII values: the expression's extra case pairs apply.

Mutation testing of curation/pii/matching.py (docs/development.md, "Mutation testing") found
that sending such text to the string search went unnoticed: only the expression knows that the
long s (U+017F) is an s and that "İ" lower-cases to two characters.
"""

from __future__ import annotations

from curation.pii.matching import ValueMatcher


def test_an_ascii_value_is_found_in_text_with_the_long_s() -> None:
    assert ValueMatcher(["sam"]).spans("ask \u017fam now") == [(4, 7)]


def test_offsets_after_a_dotted_capital_i_point_at_the_value() -> None:
    text = "\u0130stanbul: call Sam"
    assert ValueMatcher(["sam"]).spans(text) == [(text.index("Sam"), len(text))]
