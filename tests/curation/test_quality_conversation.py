"""Per-conversation quality flags: missing roles, empty and short replies, token limits, loops."""

from __future__ import annotations

import argparse
import inspect
import json
import random
from typing import Any

import pytest

from curation.quality import (
    DEGENERATE_REPETITION,
    EMPTY_ASSISTANT_REPLY,
    NO_ASSISTANT_REPLY,
    NO_SYSTEM_MESSAGE,
    NO_USER_MESSAGE,
    OVER_TOKEN_LIMIT,
    SHORT_ASSISTANT_REPLY,
    assistant_text,
    is_degenerate_repetition,
    signals,
    word_count,
)
from tests.conftest import REFERENCE

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
USER = {"role": "user", "content": "How do I reverse a list in Python?"}
GOOD_REPLY = {
    "role": "assistant",
    "content": "Use slicing: items[::-1] returns a reversed copy, and items.reverse() "
    "reverses the list in place.",
}
TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "weather"}'},
        }
    ],
}


def flags_of(messages: list[dict[str, Any]], *, token_count: int = 100) -> list[str]:
    return signals(messages, token_count=token_count, token_limit=4096)


def reply(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


# -- text helpers ----------------------------------------------------------------------


def test_assistant_text_joins_assistant_messages_and_text_parts_only() -> None:
    messages = [
        SYSTEM,
        {"role": "user", "content": "first"},
        reply("one"),
        TOOL_CALL,
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        reply([{"type": "text", "text": "two "}, {"type": "text", "text": "parts"}]),
    ]
    assert assistant_text(messages) == "one\n\ntwo parts"


def test_word_count_counts_whitespace_words_and_cjk_characters() -> None:
    assert word_count("You're great!") == 2
    assert word_count("Golf is fun too!") == 4
    assert word_count("  --  ") == 0
    assert word_count("好的") == 2
    assert word_count("OK好的") == 3


# -- signals ---------------------------------------------------------------------------


def test_clean_conversation_has_no_flags() -> None:
    assert flags_of([SYSTEM, USER, GOOD_REPLY]) == []


def test_no_system_message() -> None:
    assert flags_of([USER, GOOD_REPLY]) == [NO_SYSTEM_MESSAGE]
    developer = {"role": "developer", "content": "Answer briefly."}
    assert NO_SYSTEM_MESSAGE not in flags_of([developer, USER, GOOD_REPLY])


def test_no_user_message() -> None:
    assert flags_of([SYSTEM, GOOD_REPLY]) == [NO_USER_MESSAGE]
    assert NO_USER_MESSAGE not in flags_of([SYSTEM, USER, GOOD_REPLY])


def test_no_assistant_reply() -> None:
    assert flags_of([SYSTEM, USER]) == [NO_ASSISTANT_REPLY]
    assert NO_ASSISTANT_REPLY not in flags_of([SYSTEM, USER, TOOL_CALL])


@pytest.mark.parametrize(
    "content",
    ["", "   \n\t", None, [], [{"type": "text", "text": "  "}]],
    ids=["empty", "whitespace", "null", "no-parts", "blank-part"],
)
def test_empty_assistant_reply(content: Any) -> None:
    found = flags_of([SYSTEM, USER, reply(content)])
    assert found == [EMPTY_ASSISTANT_REPLY]


def test_empty_reply_anywhere_in_the_conversation_is_flagged() -> None:
    messages = [SYSTEM, USER, reply(""), {"role": "user", "content": "Hello?"}, GOOD_REPLY]
    assert flags_of(messages) == [EMPTY_ASSISTANT_REPLY]


def test_tool_call_without_content_is_not_empty_or_short() -> None:
    found = flags_of([SYSTEM, USER, TOOL_CALL])
    assert EMPTY_ASSISTANT_REPLY not in found
    assert SHORT_ASSISTANT_REPLY not in found


def test_refusal_counts_as_content() -> None:
    refusal = {"role": "assistant", "content": None, "refusal": "I can't help with that request."}
    assert EMPTY_ASSISTANT_REPLY not in flags_of([SYSTEM, USER, refusal])


@pytest.mark.parametrize("text", ["You're great!", "Sure.", "42", "好的"])
def test_short_final_reply_is_flagged(text: str) -> None:
    assert flags_of([SYSTEM, USER, reply(text)]) == [SHORT_ASSISTANT_REPLY]


@pytest.mark.parametrize("text", ["Golf is fun too!", "It's easy to learn!", "这是一个很好的问题"])
def test_reply_of_three_words_or_more_is_not_short(text: str) -> None:
    assert flags_of([SYSTEM, USER, reply(text)]) == []


def test_only_the_final_assistant_reply_can_be_short() -> None:
    early_short = [SYSTEM, USER, reply("Sure."), {"role": "user", "content": "Go on."}, GOOD_REPLY]
    assert flags_of(early_short) == []
    ends_with_tool_call = [SYSTEM, USER, reply("OK."), TOOL_CALL]
    assert SHORT_ASSISTANT_REPLY not in flags_of(ends_with_tool_call)


def test_empty_final_reply_is_empty_not_short() -> None:
    assert flags_of([SYSTEM, USER, reply(" ")]) == [EMPTY_ASSISTANT_REPLY]


def test_over_token_limit() -> None:
    messages = [SYSTEM, USER, GOOD_REPLY]
    assert signals(messages, token_count=4097, token_limit=4096) == [OVER_TOKEN_LIMIT]
    assert signals(messages, token_count=4096, token_limit=4096) == []
    with pytest.raises(ValueError, match="token_limit"):
        signals(messages, token_count=1, token_limit=0)


def test_flags_come_in_a_fixed_order() -> None:
    found = signals([reply("")], token_count=10, token_limit=5)
    assert found == [NO_SYSTEM_MESSAGE, NO_USER_MESSAGE, EMPTY_ASSISTANT_REPLY, OVER_TOKEN_LIMIT]


# -- degenerate repetition -------------------------------------------------------------


def test_cookbook_toy_file_flags_match_the_notebook() -> None:
    path = REFERENCE / "openai_cookbook_toy_chat_fine_tuning.jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    found = [flags_of(line["messages"]) for line in lines]
    assert found == [
        [],
        [],
        [NO_SYSTEM_MESSAGE],
        [NO_USER_MESSAGE, SHORT_ASSISTANT_REPLY],
        [DEGENERATE_REPETITION],
    ]
    # The notebook's example is "Eat a banana!" repeated: make sure that is what we flagged.
    banana = lines[4]["messages"][-1]["content"]
    assert banana.count("Eat a banana!") > 1000


def test_synthetic_banana_loop_is_flagged() -> None:
    messages = [SYSTEM, {"role": "user", "content": "I'm hungry."}, reply("Eat a banana!" * 2000)]
    assert flags_of(messages) == [DEGENERATE_REPETITION]


def long_prose() -> str:
    # Real English prose with code snippets: the argparse module's own documentation.
    return inspect.getdoc(argparse.ArgumentParser.add_argument) + "\n\n" + argparse.__doc__


def long_code() -> str:
    return inspect.getsource(argparse)[:30000]


def markdown_table() -> str:
    rng = random.Random(7)
    cities = ["Lisbon", "Oslo", "Quito", "Hanoi", "Nairobi", "Perth", "Lima", "Turin", "Dakar"]
    rows = ["| City | Year | Population | Growth |", "| --- | ---: | ---: | ---: |"]
    for year in range(1950, 2050):
        city = rng.choice(cities)
        rows.append(
            f"| {city} | {year} | {rng.randint(10_000, 9_000_000):,} | {rng.uniform(-2, 5):.1f}% |"
        )
    return "\n".join(rows)


def numbered_list() -> str:
    rng = random.Random(11)
    verbs = ["Check", "Measure", "Replace", "Clean", "Inspect", "Tighten", "Label", "Record"]
    things = ["the filter", "each valve", "the gasket", "both hoses", "the pump seal", "the gauge"]
    whens = ["weekly", "after each run", "before shipping", "every 500 hours", "at start-up"]
    return "\n".join(
        f"{n}. {rng.choice(verbs)} {rng.choice(things)} {rng.choice(whens)}." for n in range(1, 121)
    )


def json_records() -> str:
    rng = random.Random(3)
    names = ["ana", "bo", "cy", "dee", "eli", "fay", "gus", "hal"]
    records = [
        {"id": n, "name": rng.choice(names), "score": rng.randint(0, 100), "active": n % 3 == 0}
        for n in range(300)
    ]
    return json.dumps(records, indent=2)


def padded_table() -> str:
    rng = random.Random(5)
    cities = ["Lisbon", "Oslo", "Quito", "Hanoi", "Nairobi", "Perth", "Lima", "Turin", "Dakar"]
    rows = ["| City       | Year | Open  | Notes |", "| ---------- | ---- | ----- | ----- |"]
    for year in range(1900, 2050):
        rows.append(
            f"| {rng.choice(cities):<10} | {year} | {rng.choice(['yes', 'no']):<5} |       |"
        )
    return "\n".join(rows)


def json_flags() -> str:
    # Short, same-shaped records compress about 12x per window: the most of any normal text
    # we measured, so this sits just under the loop threshold.
    rng = random.Random(9)
    records = [{"id": n, "done": rng.random() < 0.5, "tags": []} for n in range(400)]
    return json.dumps(records, indent=2)


@pytest.mark.parametrize(
    "make_text",
    [long_prose, long_code, markdown_table, padded_table, numbered_list, json_records, json_flags],
    ids=["prose", "code", "table", "padded-table", "list", "json", "json-flags"],
)
def test_normal_long_answers_are_not_degenerate(make_text: Any) -> None:
    text = make_text()
    assert len(text) > 2000
    assert not is_degenerate_repetition(text)


def test_fastchat_answers_are_not_degenerate() -> None:
    path = REFERENCE / "fastchat_dummy_conversation_sharegpt.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    answers = [turn["value"] for record in records for turn in record["conversations"]]
    assert answers
    assert [text for text in answers if is_degenerate_repetition(text)] == []


@pytest.mark.parametrize(
    "text",
    [
        long_prose()[:2000] + " I hope this helps!" * 40,
        long_code()[:5000] + "\n" + "    return None\n" * 60,
        "Sure! " + "😂" * 1000,
        "哈" * 600,
        "!" * 500,
        " ".join(["and"] * 80),
        (
            "The committee reviewed the proposal in detail and decided to postpone the "
            "vote until the budget office has published its revised figures for next year. "
        )
        * 6,
    ],
    ids=["tail-loop", "code-loop", "emoji", "cjk", "punctuation", "one-word", "paragraph"],
)
def test_loops_are_degenerate(text: str) -> None:
    assert is_degenerate_repetition(text)


def test_short_texts_are_never_degenerate() -> None:
    assert not is_degenerate_repetition("ha " * 60)
    assert not is_degenerate_repetition("Eat a banana!" * 15)


def test_a_passage_repeated_once_is_not_a_loop() -> None:
    passage = long_prose()[:1500]
    assert not is_degenerate_repetition(passage + "\n\nAgain, in short:\n\n" + passage)


def test_a_passage_said_twice_in_a_row_is_not_a_loop() -> None:
    passage = long_prose()[:1500]
    assert not is_degenerate_repetition(passage + " " + passage)


def test_code_repeating_a_statement_three_times_is_not_a_loop() -> None:
    statement = 'graph.add_edge("a", "b", weight=2.5, label="x")\n'
    code = long_code()[:3000] + "\n" + statement * 3 + long_code()[3000:6000]
    assert not is_degenerate_repetition(code)


def test_degenerate_repetition_checks_each_assistant_message() -> None:
    messages = [SYSTEM, USER, reply("Eat a banana!" * 300), {"role": "user", "content": "?"}]
    messages.append(GOOD_REPLY)
    assert flags_of(messages) == [DEGENERATE_REPETITION]


# -- quality score ---------------------------------------------------------------------
