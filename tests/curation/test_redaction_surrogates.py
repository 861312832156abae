"""Surrogates are realistic fakes of their own kind (Faker, en_US), different people never share
one, and the other operators keep their small promises (mask keeps line breaks, the longest
finding names a merged span, name fields get a name-safe replacement).

Mutation testing of curation/pii/redaction.py found these rules unguarded (docs/development.md,
"Mutation testing").
"""

from __future__ import annotations

import itertools
import re
import string

import pytest
from faker.providers.person.en_US import Provider as EnglishNames

from curation.pii.redaction import _NATIONALITIES, redact_messages
from tests.factories import pii_finding

FIRST_NAMES = set(EnglishNames.first_names)
# The surrogate list is the redaction module's own fact; the test reads it, not a copy.
NATIONALITIES = set(_NATIONALITIES)


def surrogate_of(value: str, entity_type: str) -> str:
    text = f"[{value}]"
    out = redact_messages(
        [{"role": "user", "content": text}],
        [pii_finding(text, value, entity_type)],
        operator="surrogate",
        seed=7,
    )
    return str(out[0]["content"])[1:-1]


# Shapes a same-shape fallback (random letters for letters, digits for digits) would not give.
@pytest.mark.parametrize(
    ("entity_type", "value", "shape"),
    [
        ("EMAIL_ADDRESS", "ana@corp.pt", r"[a-z0-9._]+@example\.(com|net|org)"),
        ("IBAN_CODE", "DE89370400440532013000", r"GB\d{2}[A-Z]{4}\d{14}"),
        ("IP_ADDRESS", "10.1.2.3", r"(10|172|192)\.\d+\.\d+\.\d+"),
        ("IP_ADDRESS", "2001:db8::1", r"[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7}"),
        ("US_SSN", "123 45 6789", r"\d{3}-\d{2}-\d{4}"),
        ("STREET_ADDRESS", "Rua Augusta 12", r"\d+ [A-Z].*"),
        ("ZIP_CODE", "1100-048", r"\d{5}"),
        ("DATE_TIME", "3 May 2024", r"\d{4}-\d{2}-\d{2}"),
        ("URL", "https://ana.pt/x", r"https://example\.com/\S+"),
    ],
)
def test_a_surrogate_has_the_shape_of_its_kind(entity_type: str, value: str, shape: str) -> None:
    fake = surrogate_of(value, entity_type)

    assert re.fullmatch(shape, fake), fake


@pytest.mark.parametrize(
    ("entity_type", "value"),
    [
        ("PHONE_NUMBER", "415-555-0134"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("US_PASSPORT", "X12345678"),
        ("LOCATION", "Lisbon"),
        ("ORGANIZATION", "Acme Ltd"),
    ],
)
def test_a_surrogate_is_a_different_value_of_its_kind(entity_type: str, value: str) -> None:
    fake = surrogate_of(value, entity_type)

    assert fake and fake != value
    if entity_type == "CREDIT_CARD":
        assert re.fullmatch(r"\d{12,19}", fake), fake
    if entity_type == "PHONE_NUMBER":
        assert sum(ch.isdigit() for ch in fake) >= 10, fake


def test_an_age_becomes_an_adult_age_and_a_nationality_another_nationality() -> None:
    assert 18 <= int(surrogate_of("42", "AGE")) <= 90
    assert surrogate_of("Portuguese", "NRP") in NATIONALITIES


def test_a_first_name_becomes_a_first_name_and_a_full_name_a_full_name() -> None:
    first = surrogate_of("Ana", "PERSON")
    full = surrogate_of("Ana Silva", "PERSON")

    assert first in FIRST_NAMES
    assert len(full.split()) >= 2 and any(word in FIRST_NAMES for word in full.split()), full


def test_a_name_first_written_in_lower_case_is_capitalised_where_it_is_capitalised() -> None:
    text = "call me ana. Ana it is."
    messages = [{"role": "user", "content": text}]

    out = redact_messages(
        messages, [pii_finding(text, "ana", "PERSON")], operator="surrogate", seed=7
    )

    match = re.fullmatch(r"call me (\w+)\. (\w+) it is\.", out[0]["content"])
    assert match is not None, out[0]["content"]
    lower, capitalised = match.groups()
    assert capitalised in FIRST_NAMES
    assert lower == capitalised.lower()


def test_two_hundred_different_people_get_two_hundred_different_surrogates() -> None:
    # More names than Faker's ~700 first names make collisions certain without the re-draw.
    names = [(a + b).title() for a, b in itertools.product(string.ascii_lowercase, repeat=2)][:200]
    text = " ".join(names)
    starts = itertools.accumulate((len(name) + 1 for name in names), initial=0)
    findings = [
        {"message_index": 0, "start": start, "end": start + len(name), "entity_type": "PERSON"}
        for start, name in zip(starts, names, strict=False)
    ]

    out = redact_messages(
        [{"role": "user", "content": text}], findings, operator="surrogate", seed=1
    )

    fakes = out[0]["content"].split()
    assert len(fakes) == 200
    assert len(set(fakes)) == 200


def test_mask_keeps_line_breaks_inside_a_value() -> None:
    text = "At 12 Rua Augusta\nLisbon, ok"
    messages = [{"role": "user", "content": text}]
    address = "12 Rua Augusta\nLisbon"

    out = redact_messages(
        messages, [pii_finding(text, address, "STREET_ADDRESS")], operator="mask", seed=1
    )

    assert out[0]["content"] == "At " + "*" * 14 + "\n" + "*" * 6 + ", ok"


def test_the_longest_of_overlapping_findings_names_the_merged_span() -> None:
    text = "Write to Ana Silva Lobo today"
    messages = [{"role": "user", "content": text}]
    findings = [
        pii_finding(text, "Ana Silva Lobo", "PERSON"),
        pii_finding(text, "Lobo", "LOCATION"),  # late inside the longer one
    ]

    out = redact_messages(messages, findings, operator="tag", seed=1)

    assert out[0]["content"] == "Write to <PERSON_1> today"


def test_a_surrogate_written_into_a_name_field_is_made_name_safe() -> None:
    messages = [{"role": "user", "name": "Ana", "content": "hello"}]
    findings = [
        {
            "message_index": 0,
            "field": "name",
            "start": 0,
            "end": 3,
            "entity_type": "PERSON",
            "surrogate": "Xena Cruz",
        }
    ]

    out = redact_messages(messages, findings, operator="surrogate", seed=1)

    assert out[0]["name"] == "Xena_Cruz"


def test_a_two_word_part_of_a_longer_name_gets_the_same_two_words_of_its_surrogate() -> None:
    text = "Maria Ana Silva wrote. Later ana silva called."
    messages = [{"role": "user", "content": text}]
    # The reviewer's own surrogate for the full name, then the later mention of a part.
    findings = [
        pii_finding(text, "Maria Ana Silva", "PERSON", surrogate="Rita Maria Lobo"),
        pii_finding(text, "ana silva", "PERSON"),
    ]

    out = redact_messages(messages, findings, operator="surrogate", seed=7)

    assert out[0]["content"] == "Rita Maria Lobo wrote. Later maria lobo called."


def test_surrogates_drawn_without_faker_are_the_same_on_every_export() -> None:
    # Ages, nationalities and ids of custom types come from a seeded generator, not Faker.
    for value, entity_type in [("tck-123456", "TICKET_ID"), ("42", "AGE"), ("Thai", "NRP")]:
        assert surrogate_of(value, entity_type) == surrogate_of(value, entity_type)


def test_a_lower_case_city_gets_a_lower_case_surrogate_and_an_organisation_keeps_fakers_case() -> (
    None
):
    city = surrogate_of("lisbon", "LOCATION")
    company = surrogate_of("acme ltd", "ORGANIZATION")

    assert city == city.lower() and city != "lisbon"
    assert company != company.lower()


def test_where_a_full_name_and_its_first_name_both_match_the_full_name_is_redacted() -> None:
    text = "I'm Ana Silva, Ana to friends."
    messages = [
        {"role": "user", "content": text},
        {"role": "assistant", "content": "Noted, ana silva."},
    ]
    findings = [
        {"message_index": 0, "start": 4, "end": 13, "entity_type": "PERSON"},
        {"message_index": 0, "start": 15, "end": 18, "entity_type": "PERSON"},
    ]

    out = redact_messages(messages, findings, operator="tag", seed=1)

    assert out[1]["content"] == "Noted, <PERSON_1>."
