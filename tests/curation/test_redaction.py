"""redact_messages / iter_text_fields: pure functions, no engine, no database."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from curation.pii.redaction import (
    OPERATORS,
    RedactionError,
    iter_text_fields,
    other_occurrences,
    redact_messages,
)


def finding(
    message_index: int,
    text: str,
    value: str,
    entity_type: str,
    *,
    field: str = "content",
    occurrence: int = 0,
    decision: str = "redact",
    **extra: Any,
) -> dict[str, Any]:
    """A finding for the ``occurrence``-th ``value`` inside ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(value, start + 1)
    return {
        "message_index": message_index,
        "field": field,
        "start": start,
        "end": start + len(value),
        "entity_type": entity_type,
        "decision": decision,
        **extra,
    }


CONVERSATION = [
    {"role": "system", "content": "You are a support agent."},
    {"role": "user", "content": "Hi, I'm Ana Silva, mail ana@example.com please."},
    {
        "role": "assistant",
        "content": "Thanks Ana Silva. Is ana@example.com right? Bob Jones can help.",
    },
    {"role": "user", "content": "Yes. Also cc bob@example.org for Bob Jones."},
]


def conversation_findings() -> list[dict[str, Any]]:
    m = CONVERSATION
    return [
        finding(1, m[1]["content"], "Ana Silva", "PERSON"),
        finding(1, m[1]["content"], "ana@example.com", "EMAIL_ADDRESS"),
        finding(2, m[2]["content"], "Ana Silva", "PERSON"),
        finding(2, m[2]["content"], "ana@example.com", "EMAIL_ADDRESS"),
        finding(2, m[2]["content"], "Bob Jones", "PERSON"),
        finding(3, m[3]["content"], "bob@example.org", "EMAIL_ADDRESS"),
        finding(3, m[3]["content"], "Bob Jones", "PERSON"),
    ]


def test_tags_are_numbered_by_first_appearance_and_consistent_across_turns() -> None:
    redacted = redact_messages(CONVERSATION, conversation_findings(), operator="tag", seed=1)

    assert [m["content"] for m in redacted] == [
        "You are a support agent.",
        "Hi, I'm <PERSON_1>, mail <EMAIL_ADDRESS_1> please.",
        "Thanks <PERSON_1>. Is <EMAIL_ADDRESS_1> right? <PERSON_2> can help.",
        "Yes. Also cc <EMAIL_ADDRESS_2> for <PERSON_2>.",
    ]


def test_same_value_gets_same_tag_regardless_of_case_and_spacing() -> None:
    messages = [{"role": "user", "content": "JOHN  SMITH wrote to John Smith and to Jane Doe"}]
    text = messages[0]["content"]
    findings = [
        finding(0, text, "JOHN  SMITH", "PERSON"),
        finding(0, text, "John Smith", "PERSON"),
        finding(0, text, "Jane Doe", "PERSON"),
    ]

    out = redact_messages(messages, findings, operator="tag", seed="c1")[0]["content"]

    assert out == "<PERSON_1> wrote to <PERSON_1> and to <PERSON_2>"


def test_findings_marked_keep_are_not_applied() -> None:
    text = CONVERSATION[1]["content"]
    findings = [
        finding(1, text, "Ana Silva", "PERSON", decision="keep"),
        finding(1, text, "ana@example.com", "EMAIL_ADDRESS"),
    ]

    out = redact_messages(CONVERSATION, findings, operator="tag", seed=1)[1]["content"]

    assert out == "Hi, I'm Ana Silva, mail <EMAIL_ADDRESS_1> please."


def test_input_messages_are_not_modified() -> None:
    before = copy.deepcopy(CONVERSATION)

    redact_messages(CONVERSATION, conversation_findings(), operator="surrogate", seed=1)

    assert before == CONVERSATION


def test_surrogates_are_consistent_within_a_conversation() -> None:
    redacted = redact_messages(CONVERSATION, conversation_findings(), operator="surrogate", seed=42)
    contents = [m["content"] for m in redacted]

    first_name = re.match(r"Hi, I'm (.+), mail (\S+) please\.", contents[1])
    assert first_name is not None
    fake_person, fake_email = first_name.groups()
    assert contents[2].startswith(f"Thanks {fake_person}. Is {fake_email} right? ")
    assert fake_person != "Ana Silva" and "@" in fake_email and fake_email != "ana@example.com"
    second = re.match(r"Yes\. Also cc (\S+) for (.+)\.", contents[3])
    assert second is not None
    other_email, other_person = second.groups()
    assert contents[2].endswith(f"{other_person} can help.")
    assert other_person not in (fake_person, "Bob Jones")
    assert other_email not in (fake_email, "bob@example.org")


def test_surrogates_are_deterministic_for_a_seed() -> None:
    findings = conversation_findings()

    first = redact_messages(CONVERSATION, findings, operator="surrogate", seed="conv-7")
    again = redact_messages(CONVERSATION, findings, operator="surrogate", seed="conv-7")
    other = redact_messages(CONVERSATION, findings, operator="surrogate", seed="conv-8")

    assert first == again
    assert first != other


def test_surrogate_of_a_value_does_not_depend_on_other_findings() -> None:
    text = CONVERSATION[1]["content"]
    only_email = [finding(1, text, "ana@example.com", "EMAIL_ADDRESS")]

    alone = redact_messages(CONVERSATION, only_email, operator="surrogate", seed=5)
    together = redact_messages(CONVERSATION, conversation_findings(), operator="surrogate", seed=5)

    fake = alone[1]["content"].split("mail ")[1].split(" ")[0]
    assert fake in together[1]["content"]


def test_surrogates_look_like_the_kind_they_replace() -> None:
    text = "Card 4111 1111 1111 1111, phone 415-555-0134, ip 10.1.2.3, from Lisbon, EMP-123-XY"
    messages = [{"role": "user", "content": text}]
    findings = [
        finding(0, text, "4111 1111 1111 1111", "CREDIT_CARD"),
        finding(0, text, "415-555-0134", "PHONE_NUMBER"),
        finding(0, text, "10.1.2.3", "IP_ADDRESS"),
        finding(0, text, "Lisbon", "LOCATION"),
        finding(0, text, "EMP-123-XY", "EMPLOYEE_ID"),
    ]

    out = redact_messages(messages, findings, operator="surrogate", seed=3)[0]["content"]

    match = re.fullmatch(
        r"Card (\d{12,19}), phone (.+), ip (\d+\.\d+\.\d+\.\d+), from (.+), ([A-Z]{3}-\d{3}-[A-Z]{2})",
        out,
    )
    assert match is not None, out
    card, phone, _ip, city, employee = match.groups()
    assert card != "4111111111111111"
    assert sum(ch.isdigit() for ch in phone) >= 7
    assert city != "Lisbon" and city[0].isupper()
    assert employee != "EMP-123-XY"


def test_explicit_surrogate_on_a_finding_is_used_for_every_occurrence() -> None:
    text = "Ana met Ana"
    messages = [{"role": "user", "content": text}]
    findings = [
        finding(0, text, "Ana", "PERSON", surrogate="Rita"),
        finding(0, text, "Ana", "PERSON", occurrence=1),
    ]

    out = redact_messages(messages, findings, operator="surrogate", seed=1)

    assert out[0]["content"] == "Rita met Rita"


def test_mask_keeps_length() -> None:
    text = "Call 415-555-0134 now"
    messages = [{"role": "user", "content": text}]

    out = redact_messages(
        messages, [finding(0, text, "415-555-0134", "PHONE_NUMBER")], operator="mask", seed=1
    )

    assert out[0]["content"] == "Call ************ now"


def test_overlapping_findings_are_merged_before_applying() -> None:
    text = "Write to Dr. Ana Maria Silva today"
    messages = [{"role": "user", "content": text}]
    findings = [
        finding(0, text, "Dr. Ana Maria", "PERSON"),
        finding(0, text, "Maria Silva", "PERSON"),
        finding(0, text, "Ana", "LOCATION"),
    ]

    out = redact_messages(messages, findings, operator="tag", seed=1)

    assert out[0]["content"] == "Write to <PERSON_1> today"


def test_content_parts_and_names_are_redacted_in_place() -> None:
    messages = [
        {
            "role": "user",
            "name": "ana_silva",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "text", "text": "I am Ana Silva"},
            ],
        }
    ]
    findings = [
        finding(0, "ana_silva", "ana_silva", "PERSON", field="name"),
        finding(0, "I am Ana Silva", "Ana Silva", "PERSON", field="content.1.text"),
    ]

    tagged = redact_messages(messages, findings, operator="tag", seed=1)[0]
    masked = redact_messages(messages, findings, operator="mask", seed=1)[0]

    assert tagged["content"][0] == messages[0]["content"][0]
    # Fields are numbered in iter_text_fields order: content parts, then the author name.
    assert tagged["content"][1] == {"type": "text", "text": "I am <PERSON_1>"}
    # Author names only allow [a-zA-Z0-9_-] in the chat format.
    assert tagged["name"] == "PERSON_2"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", masked["name"])


def tool_call_conversation(arguments: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Email Ana Silva at ana@example.com"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "send_email", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "sent"}'},
    ]


@pytest.mark.parametrize("operator", ["tag", "surrogate", "mask"])
def test_tool_call_arguments_stay_valid_json(operator: str) -> None:
    arguments = json.dumps(
        {"to": "ana@example.com", "body": 'Hi "Ana Silva",\nsee you,\\ José', "phone": 4155550134}
    )
    messages = tool_call_conversation(arguments)
    field = "tool_calls.0.function.arguments"
    findings = [
        finding(0, messages[0]["content"], "Ana Silva", "PERSON"),
        finding(1, arguments, "ana@example.com", "EMAIL_ADDRESS", field=field),
        finding(1, arguments, "Ana Silva", "PERSON", field=field),
        # Starts in the middle of an escape sequence and ends past the closing quote.
        finding(1, arguments, 'os\\u00e9", ', "PERSON", field=field),
        finding(1, arguments, "4155550134", "PHONE_NUMBER", field=field),
    ]

    out = redact_messages(messages, findings, operator=operator, seed=9)

    decoded = json.loads(out[1]["tool_calls"][0]["function"]["arguments"])
    assert set(decoded) == {"to", "body", "phone"}
    assert "ana@example.com" not in decoded["to"]
    assert "Ana Silva" not in decoded["body"] and "José" not in decoded["body"]
    assert decoded["body"].startswith('Hi "') and "\nsee you,\\ " in decoded["body"]
    assert decoded["phone"] != 4155550134 and "4155550134" not in str(decoded["phone"])
    if operator == "tag":
        assert decoded["to"] == "<EMAIL_ADDRESS_1>"
        assert decoded["body"].startswith('Hi "<PERSON_1>"')
    assert out[2] == messages[2]


def test_a_span_over_json_structure_redacts_the_strings_it_covers() -> None:
    arguments = '{"name": "Ana Silva", "city": "Porto"}'
    messages = tool_call_conversation(arguments)
    field = "tool_calls.0.function.arguments"
    span = finding(1, arguments, 'Silva", "city": "Porto', "PERSON", field=field)

    out = redact_messages(messages, [span], operator="tag", seed=1)

    raw = out[1]["tool_calls"][0]["function"]["arguments"]
    # Each covered piece is its own value, so each gets its own tag.
    assert json.loads(raw) == {"name": "Ana <PERSON_1>", "<PERSON_2>": "<PERSON_3>"}


def test_arguments_that_are_not_json_are_redacted_as_text() -> None:
    arguments = "to=ana@example.com"
    messages = tool_call_conversation(arguments)
    field = "tool_calls.0.function.arguments"

    out = redact_messages(
        messages,
        [finding(1, arguments, "ana@example.com", "EMAIL_ADDRESS", field=field)],
        operator="tag",
        seed=1,
    )

    assert out[1]["tool_calls"][0]["function"]["arguments"] == "to=<EMAIL_ADDRESS_1>"


def test_iter_text_fields_lists_every_text_field() -> None:
    messages = tool_call_conversation('{"a": 1}')
    messages.append(
        {
            "role": "user",
            "name": "bob",
            "content": [{"type": "text", "text": "part"}, {"type": "image_url", "image_url": {}}],
        }
    )
    messages.append(
        {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": "{}"}}
    )

    fields = [(index, field) for index, field, _ in iter_text_fields(messages)]

    assert fields == [
        (0, "content"),
        (1, "tool_calls.0.function.name"),
        (1, "tool_calls.0.function.arguments"),
        (2, "content"),
        (3, "content.0.text"),
        (3, "name"),
        (4, "function_call.name"),
        (4, "function_call.arguments"),
    ]


def test_findings_that_do_not_fit_the_conversation_are_rejected() -> None:
    text = CONVERSATION[1]["content"]
    beyond = {**finding(1, text, "please.", "PERSON"), "end": len(text) + 3}
    wrong_field = {**finding(1, text, "Ana", "PERSON"), "field": "content.0.text"}

    with pytest.raises(RedactionError):
        redact_messages(CONVERSATION, [beyond], operator="tag", seed=1)
    with pytest.raises(RedactionError):
        redact_messages(CONVERSATION, [wrong_field], operator="tag", seed=1)
    with pytest.raises(ValueError, match="operator"):
        redact_messages(CONVERSATION, [], operator="blur", seed=1)


def test_findings_can_be_objects_with_attributes() -> None:
    class Finding:
        def __init__(self, **values: Any) -> None:
            self.__dict__.update(values)

    text = CONVERSATION[1]["content"]
    row = Finding(**finding(1, text, "ana@example.com", "EMAIL_ADDRESS"), surrogate="")

    out = redact_messages(CONVERSATION, [row], operator="tag", seed=1)

    assert out[1]["content"] == "Hi, I'm Ana Silva, mail <EMAIL_ADDRESS_1> please."


def test_a_value_redacted_once_is_redacted_everywhere_in_any_letter_case() -> None:
    arguments = json.dumps({"to": "ZOË KOWALSKI", "note": "call zoë kowalski"}, ensure_ascii=True)
    messages = [
        {"role": "user", "content": "Please email Zoë Kowalski about the lease."},
        {
            "role": "assistant",
            "content": "Sure.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "send", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "Sent to zoë  kowalski."},
        {"role": "assistant", "content": "Done; Zoë Kowalskiewicz was not contacted."},
    ]
    # Only the first mention was found by the detector.
    findings = [{"message_index": 0, "start": 13, "end": 25, "entity_type": "PERSON"}]

    for operator in OPERATORS:
        redacted = redact_messages(messages, findings, operator=operator, seed=3)
        dumped = json.dumps(redacted, ensure_ascii=False).casefold()
        assert 'kowalski"' not in dumped and "kowalski " not in dumped
        assert "zoë  kowalski" not in dumped and "\\u00eb" not in dumped.replace("\\\\", "")
        decoded = json.loads(redacted[1]["tool_calls"][0]["function"]["arguments"])
        assert set(decoded) == {"to", "note"}
        # A longer word that merely starts with the value is another word.
        assert "kowalskiewicz" in redacted[3]["content"].casefold()
    tagged = redact_messages(messages, findings, operator="tag", seed=3)
    assert tagged[2]["content"] == "Sent to <PERSON_1>."
    assert json.loads(tagged[1]["tool_calls"][0]["function"]["arguments"]) == {
        "to": "<PERSON_1>",
        "note": "call <PERSON_1>",
    }


def test_other_occurrences_ignore_values_without_two_letters_or_digits() -> None:
    fields = {(0, "content"): "a + b = c; A is a letter"}

    assert other_occurrences(fields, {"a": "PERSON", "+": "PII"}) == {}
