"""ValueMatcher: the string search on ASCII text finds exactly what the expression finds."""

from __future__ import annotations

import random

import pytest

from curation.pii.matching import ValueMatcher

PIECES = [
    "ann",
    "Ann",
    "ANN",
    "ann lee",
    "Ann  Lee",
    "ann\tlee",
    "ann\nLEE",
    "lee",
    "annlee",
    "a.lee@example.com",
    "A.Lee@Example.COM",
    "x",
    "_",
    "-",
    "9",
    "  ",
    "\x1f",
    ".",
    ",",
    "@",
    "555 0100",
    "555  0100",
    "5550100",
]
VALUES = ["ann", "ann lee", "lee", "a.lee@example.com", "555 0100", "ann lee ann", "example"]


def expression_spans(matcher: ValueMatcher, text: str) -> list[tuple[int, int]]:
    return [match.span() for match in matcher.pattern.finditer(text)]


def test_ascii_search_finds_the_spans_the_expression_finds_on_random_text() -> None:
    rng = random.Random(19)
    for _ in range(3000):
        values = sorted(rng.sample(VALUES, rng.randint(1, len(VALUES))), key=len, reverse=True)
        matcher = ValueMatcher(values)
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))
        assert matcher.spans(text) == expression_spans(matcher, text), (values, text)


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("Call Ann Lee today", [(5, 12)]),
        ("Call ANN\n  lee today", [(5, 14)]),
        ("Joanne Lee", [(7, 10)]),  # "ann" inside a word is not a match; "lee" is
        ("ann_lee", [(0, 3), (4, 7)]),  # the underscore separates, as in the expression
        ("annlee", []),
        ("ann lee ann lee", [(0, 11), (12, 15)]),  # the longest alternative first, no overlap
    ],
)
def test_ascii_search_stands_alone_ignores_case_and_spacing(
    text: str, spans: list[tuple[int, int]]
) -> None:
    matcher = ValueMatcher(["ann lee ann", "ann lee", "ann", "lee"])
    assert matcher.spans(text) == spans
    assert expression_spans(matcher, text) == spans


def test_non_ascii_text_goes_through_the_expression_and_its_case_pairs() -> None:
    # The Kelvin sign (U+212A) is a capital K to `re`; a lowercase search would miss it.
    matcher = ValueMatcher(["kim"])
    assert matcher.spans("ask \u212aim now") == [(4, 7)]
    assert matcher.spans("ask \u212aim now") == expression_spans(matcher, "ask \u212aim now")


def test_non_ascii_values_are_found_in_ascii_text_too() -> None:
    matcher = ValueMatcher(["zoë"])
    assert matcher.spans("ZOË and zoe") == [(0, 3)]
