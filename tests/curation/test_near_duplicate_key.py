"""What the near-duplicate key ignores and what it keeps (curation/splits.py): examples with
equal keys are merged into one split, so a key that ignores too much merges different examples
and one that keeps too much lets a near-duplicate leak into the other split.

mutmut's run over curation/splits.py found text parts, text beside a tool call, the function
name, the speaker, placeholder numbers and non-ASCII text untested (docs/development.md,
"Mutation testing").
"""

from __future__ import annotations

from typing import Any

from curation.splits import near_duplicate_key


def ask_and_answer(question: Any, answer: Any = "It is on its way.") -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are the support assistant."},
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]


def parts(*texts: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text} for text in texts]


def calls(content: str | None, name: str, arguments: str) -> list[dict[str, Any]]:
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}
    return [
        {"role": "user", "content": "Where is parcel 7?"},
        {"role": "assistant", "content": content, "tool_calls": [call]},
    ]


def test_the_same_text_as_a_string_or_as_text_parts_is_a_near_duplicate():
    as_string = near_duplicate_key(ask_and_answer("Where is my parcel? It is late."))

    assert as_string == near_duplicate_key(
        ask_and_answer(parts("Where is my parcel?", "It is late."))
    )
    assert as_string == near_duplicate_key(ask_and_answer(parts("Where is my parcel? It is late.")))


def test_examples_whose_text_parts_differ_are_not_near_duplicates():
    parcel = near_duplicate_key(ask_and_answer(parts("Where is my parcel?")))

    assert parcel != near_duplicate_key(ask_and_answer(parts("Where is my refund?")))


def test_the_text_beside_a_tool_call_and_the_call_both_count():
    checking = near_duplicate_key(calls("Let me check.", "track", '{"parcel": 7}'))

    assert checking != near_duplicate_key(calls("I will cancel it.", "track", '{"parcel": 7}'))
    assert checking != near_duplicate_key(calls("Let me check.", "track", '{"parcel": 8}'))
    assert checking == near_duplicate_key(calls("let me check", "track", '{"parcel":7}'))


def test_a_tool_call_with_empty_or_null_text_is_the_same_near_duplicate():
    assert near_duplicate_key(calls(None, "track", '{"parcel": 7}')) == near_duplicate_key(
        calls("", "track", '{"parcel": 7}')
    )


def test_calls_to_different_functions_with_the_same_arguments_are_not_near_duplicates():
    track = near_duplicate_key(calls(None, "track", '{"parcel": 7}'))

    assert track != near_duplicate_key(calls(None, "cancel", '{"parcel": 7}'))


def test_the_same_words_said_by_the_other_speaker_are_not_near_duplicates():
    # A conversation may open with the assistant's greeting; who said what is part of it.
    greeting = [
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "My parcel is late."},
    ]
    swapped = [
        {"role": "user", "content": "Hello, how can I help?"},
        {"role": "assistant", "content": "My parcel is late."},
    ]

    assert near_duplicate_key(greeting) != near_duplicate_key(swapped)


def test_placeholder_numbers_are_ignored_but_their_kind_is_not():
    people = near_duplicate_key(ask_and_answer("<PERSON_1> asked <PERSON_2> about it."))

    assert people == near_duplicate_key(ask_and_answer("<PERSON_2> asked <PERSON_1> about it."))
    assert people != near_duplicate_key(ask_and_answer("<EMAIL_1> asked <PERSON_2> about it."))


def test_non_ascii_text_is_compared_without_case_or_width_but_with_its_accents():
    street = near_duplicate_key(ask_and_answer("Is Straße 5 in CAFÉ Zone?"))

    assert street == near_duplicate_key(ask_and_answer("is strasse 5 in café zone"))
    # Full-width letters (NFKC) are their ASCII letters.
    assert street == near_duplicate_key(
        ask_and_answer("Is \uff33\uff54\uff52\uff41\uff53\uff53\uff45 5 in Café zone?")
    )
    assert street != near_duplicate_key(ask_and_answer("Is Strasse 5 in Cafe Zone?"))
