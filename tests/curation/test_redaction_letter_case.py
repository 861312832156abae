"""Surrogates keep the letter case of what they replace: one fake per person, written in each
mention's case, and ids of a custom type keep their shape, lower-case letters included.

Mutation testing of curation/pii/redaction.py found these rules unguarded (docs/development.md,
"Mutation testing").
"""

from __future__ import annotations

import re

from curation.pii.redaction import redact_messages
from tests.factories import pii_finding


def test_a_name_written_in_capitals_gets_the_same_surrogate_in_capitals() -> None:
    text = "I'm Ana Silva. Signed, ANA SILVA"
    messages = [{"role": "user", "content": text}]

    out = redact_messages(
        messages,
        [pii_finding(text, "Ana Silva", "PERSON", decision="redact")],
        operator="surrogate",
        seed=4,
    )

    match = re.fullmatch(r"I'm (.+)\. Signed, (.+)", out[0]["content"])
    assert match is not None, out[0]["content"]
    fake, shouted = match.groups()
    assert fake != fake.upper() and fake.lower() != "ana silva"
    assert shouted == fake.upper()


def test_a_two_letter_name_in_capitals_gets_its_surrogate_in_capitals() -> None:
    text = "Al here. Thanks, AL"
    messages = [{"role": "user", "content": text}]

    out = redact_messages(
        messages,
        [pii_finding(text, "Al", "PERSON", decision="redact")],
        operator="surrogate",
        seed=4,
    )

    match = re.fullmatch(r"(.+) here\. Thanks, (.+)", out[0]["content"])
    assert match is not None, out[0]["content"]
    fake, shouted = match.groups()
    assert fake != shouted
    assert shouted == fake.upper()


def test_a_lower_case_id_of_a_custom_type_keeps_lower_case_letters() -> None:
    text = "my ticket is tck-123456"
    messages = [{"role": "user", "content": text}]

    out = redact_messages(
        messages,
        [pii_finding(text, "tck-123456", "TICKET_ID", decision="redact")],
        operator="surrogate",
        seed=4,
    )

    fake = out[0]["content"].removeprefix("my ticket is ")
    assert re.fullmatch(r"[a-z]{3}-\d{6}", fake), fake
    assert fake != "tck-123456"
