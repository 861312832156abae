"""Every variant of one person's name in a conversation (full, first, last, lower-case) gets
the same tag or the matching part of the same surrogate."""

from __future__ import annotations

from curation.pii.redaction import person_names, redact_messages

MESSAGES = [
    {"role": "user", "content": "Hi, I am John. Sincerely, John Doe"},
    {"role": "assistant", "content": "Thanks john, Mr. Doe noted."},
]
FINDINGS = [
    {
        "message_index": 0,
        "field": "content",
        "start": 9,
        "end": 13,
        "entity_type": "PERSON",
        "decision": "redact",
    },
    {
        "message_index": 0,
        "field": "content",
        "start": 26,
        "end": 34,
        "entity_type": "PERSON",
        "decision": "redact",
    },
    {
        "message_index": 1,
        "field": "content",
        "start": 17,
        "end": 20,
        "entity_type": "PERSON",
        "decision": "redact",
    },
]


def test_all_variants_of_a_name_get_one_tag() -> None:
    redacted = redact_messages(MESSAGES, FINDINGS, operator="tag", seed=1)

    assert [m["content"] for m in redacted] == [
        "Hi, I am <PERSON_1>. Sincerely, <PERSON_1>",
        "Thanks <PERSON_1>, Mr. <PERSON_1> noted.",
    ]


def test_parts_of_a_name_get_the_same_parts_of_one_surrogate() -> None:
    redacted = [
        m["content"] for m in redact_messages(MESSAGES, FINDINGS, operator="surrogate", seed=1)
    ]
    full = redacted[0].split("Sincerely, ")[1]
    first, last = full.split()

    assert redacted[0] == f"Hi, I am {first}. Sincerely, {full}"
    assert redacted[1] == f"Thanks {first.lower()}, Mr. {last} noted."
    assert "John" not in " ".join(redacted) and "Doe" not in " ".join(redacted)


def test_two_people_sharing_no_words_keep_two_tags() -> None:
    assert person_names({"John Doe": "PERSON", "Mary Major": "PERSON", "doe": "PERSON"}) == {
        "john doe": "john doe",
        "mary major": "mary major",
        "doe": "john doe",
    }
