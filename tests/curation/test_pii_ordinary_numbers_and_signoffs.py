"""Lower-case sign-offs name the writer; year ranges and section numbers are no phones or IPs."""

from __future__ import annotations

import pytest

from curation.pii.analyzer import PiiEngine
from curation.pii.engine import PiiConfig, get_engine


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_engine()


def found(engine: PiiEngine, text: str) -> dict[str, str]:
    return {d.text: d.entity_type for d in engine.analyze_texts([text], PiiConfig())[0]}


@pytest.mark.parametrize(
    ("text", "name"),
    [("Thanks for the help.\nSincerely, john", "john"), ("Regards, priya sharma", "priya sharma")],
)
def test_a_lower_case_sign_off_names_the_writer(engine: PiiEngine, text: str, name: str) -> None:
    assert found(engine, text) == {name: "PERSON"}


@pytest.mark.parametrize(
    "text",
    [
        "Sincerely, the team",
        "He lived 1903-1950 in Paris.",
        "See section 1.2.3.1 for the details.",
        "thanks, sure",
    ],
)
def test_ordinary_words_and_numbers_stay(engine: PiiEngine, text: str) -> None:
    assert found(engine, text) == {}
