"""Lower-case sign-offs name the writer; year ranges and section numbers are no phones or IPs."""

from __future__ import annotations

import pytest

from curation.pii.analyzer import PiiEngine
from curation.pii.engine import PiiConfig, TextContext, get_engine


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


@pytest.mark.parametrize("region", ["", "IN", "US"])
@pytest.mark.parametrize(
    "text",
    [
        "Place 4-5 lasagna noodles in the bottom of the dish.",
        "We will reply via email within 24 hours.",
        "Which year was it? A. 2018 B. 2019 C. 2020",
        "ISBN 978-0-06-112008-4",
        "The book (ISBN 0-06-112008-1) is a classic.",
        "The result is 3.14159265358979",
        "x = 12345.678901234",
        "Update to version 10.0.19041.1 first.",
        "Count along: 1 2 3 4 5 6 7 8 9 10",
        "Step 2: add 3-4 cups of flour, bake 25-30 minutes.",
    ],
)
def test_numbers_without_a_cue_are_no_phones_postcodes_addresses_or_ips(
    engine: PiiEngine, text: str, region: str
) -> None:
    detections = engine.analyze_texts([text], PiiConfig(), contexts=TextContext(region=region))

    assert detections[0] == []


def test_a_checksum_valid_number_is_no_nhs_number_without_its_cue(engine: PiiEngine) -> None:
    assert found(engine, "The answer is 9876543210.") == {}
    assert found(engine, "My NHS number is 987 654 3210.") != {}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ph: 415.555.0134", "415.555.0134"),
        ("Tel. 01.23.45.67.89", "01.23.45.67.89"),
        ("call me on 020 7946 0958", "020 7946 0958"),
    ],
)
def test_phone_numbers_with_dots_and_spaces_are_still_phones(
    engine: PiiEngine, text: str, value: str
) -> None:
    assert found(engine, text) == {value: "PHONE_NUMBER"}
