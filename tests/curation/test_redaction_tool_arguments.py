"""redact_messages on tool-call arguments: a value found elsewhere is found there too, whatever
JSON escapes spell it or stand before it; a redacted number becomes the replacement string;
strings with nothing to redact keep their exact text.

These pin the JSON path of curation/pii/redaction.py that mutation testing showed unguarded
(docs/development.md, "Mutation testing").
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from curation.pii.redaction import redact_messages

FIELD = "tool_calls.0.function.arguments"
SAID = "I'm Ana Silva."
# The name as the user said it: redacted everywhere else in the conversation from this one finding.
NAME = {
    "message_index": 0,
    "field": "content",
    "start": SAID.index("Ana Silva"),
    "end": SAID.index("Ana Silva") + len("Ana Silva"),
    "entity_type": "PERSON",
    "decision": "redact",
}


def conversation(arguments: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": SAID},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "send_note", "arguments": arguments},
                }
            ],
        },
    ]


def arguments_of(messages: list[dict[str, Any]]) -> str:
    return str(messages[1]["tool_calls"][0]["function"]["arguments"])


def span(arguments: str, text: str, entity_type: str, **extra: Any) -> dict[str, Any]:
    start = arguments.index(text)
    return {
        "message_index": 1,
        "field": FIELD,
        "start": start,
        "end": start + len(text),
        "entity_type": entity_type,
        "decision": "redact",
        **extra,
    }


@pytest.mark.parametrize(
    "body",
    [
        r"\u0041na Silva",  # an escaped letter inside the value
        r"\ud83d\ude00Ana Silva",  # a surrogate pair (one emoji) right before it
        r"\ud800\udc00 Ana Silva",  # the lowest pair, U+10000
        r"\udc00\udc00 Ana Silva",  # two low surrogates: no pair
        r"\ud800\ue000 Ana Silva",  # a high surrogate then U+E000: no pair
        r"\u0041\udc00 Ana Silva",  # a letter then a low surrogate: no pair
        r"Ana Silva\n",  # an escape that ends the string
    ],
)
def test_a_name_said_elsewhere_is_redacted_in_arguments_whatever_escapes_surround_it(
    body: str,
) -> None:
    # A number and an empty string stand before the note, as in real calls.
    arguments = '{"count": 2, "empty": "", "note": "' + body + '"}'
    expected_note = json.loads(f'"{body}"').replace("Ana Silva", "<PERSON_1>")

    out = redact_messages(conversation(arguments), [NAME], operator="tag", seed=1)

    assert json.loads(arguments_of(out)) == {"count": 2, "empty": "", "note": expected_note}


def test_arguments_that_are_one_json_string_are_redacted_as_that_string() -> None:
    out = redact_messages(conversation('"Ana Silva"'), [NAME], operator="tag", seed=1)

    assert json.loads(arguments_of(out)) == "<PERSON_1>"


def test_a_name_said_elsewhere_is_redacted_in_arguments_that_are_not_json() -> None:
    out = redact_messages(conversation("to=Ana Silva"), [NAME], operator="tag", seed=1)

    assert arguments_of(out) == "to=<PERSON_1>"


def test_a_redacted_number_becomes_the_tag_as_a_string() -> None:
    arguments = '{"phone": 4155550134, "to": "desk"}'
    finding = span(arguments, "4155550134", "PHONE_NUMBER")

    out = redact_messages(conversation(arguments), [finding], operator="tag", seed=1)

    assert json.loads(arguments_of(out)) == {"phone": "<PHONE_NUMBER_1>", "to": "desk"}


def test_a_redacted_number_takes_the_findings_surrogate_written_as_it_is() -> None:
    arguments = '{"phone": 4155550134}'
    finding = span(arguments, "4155550134", "PHONE_NUMBER", surrogate="☎ 912 345 678")

    out = redact_messages(conversation(arguments), [finding], operator="surrogate", seed=1)

    assert arguments_of(out) == '{"phone": "☎ 912 345 678"}'


def test_the_longest_finding_in_a_number_names_its_replacement() -> None:
    arguments = '{"n": 5551234567}'
    start = arguments.index("5551234567")
    findings = [
        {"message_index": 1, "field": FIELD, "start": s, "end": e, "entity_type": kind}
        for s, e, kind in [
            (start, start + 1, "AGE"),
            (start + 1, start + 8, "PHONE_NUMBER"),
            (start + 8, start + 10, "ZIP_CODE"),
        ]
    ]

    out = redact_messages(conversation(arguments), findings, operator="tag", seed=1)

    assert json.loads(arguments_of(out)) == {"n": "<PHONE_NUMBER_1>"}


def test_strings_without_a_finding_keep_their_exact_text_and_others_stay_unescaped() -> None:
    arguments = '{"city": "K\\u00f8benhavn", "note": "Zoë meets Ana Silva"}'

    out = redact_messages(conversation(arguments), [NAME], operator="tag", seed=1)

    assert arguments_of(out) == '{"city": "K\\u00f8benhavn", "note": "Zoë meets <PERSON_1>"}'
