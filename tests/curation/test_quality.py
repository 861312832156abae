from __future__ import annotations

import argparse
import inspect
import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHashLSH

from curation import quality
from curation.quality import (
    BLOCKING_FLAGS,
    DEGENERATE_REPETITION,
    EMPTY_ASSISTANT_REPLY,
    NEAR_DUPLICATE,
    NO_ASSISTANT_REPLY,
    NO_SYSTEM_MESSAGE,
    NO_USER_MESSAGE,
    OVER_TOKEN_LIMIT,
    SHORT_ASSISTANT_REPLY,
    assistant_text,
    band_parameters,
    cluster_near_duplicates,
    clusters,
    is_degenerate_repetition,
    minhash_signature,
    quality_score,
    shingles,
    signals,
    signature_jaccard,
    word_count,
)
from tests.conftest import shared_fixture

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
    path = shared_fixture("openai_cookbook_toy_chat_fine_tuning.jsonl")
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
    path = shared_fixture("fastchat_dummy_conversation_sharegpt.json")
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

ALL_FLAGS = sorted({*quality.SIGNAL_FLAGS, *BLOCKING_FLAGS, NEAR_DUPLICATE, "made_up_flag"})


def test_clean_example_scores_one() -> None:
    assert quality_score([], token_count=200, assistant_tokens=80) == 1.0


def test_score_stays_in_bounds_for_every_flag_combination() -> None:
    for size in range(len(ALL_FLAGS) + 1):
        for flags in itertools.combinations(ALL_FLAGS, size):
            for token_count, assistant_tokens in [(0, 0), (100, 0), (100, 5), (100, 100)]:
                score = quality_score(
                    list(flags), token_count=token_count, assistant_tokens=assistant_tokens
                )
                assert 0.0 <= score <= 1.0


def test_adding_a_flag_never_raises_the_score() -> None:
    for size in range(len(ALL_FLAGS)):
        for flags in itertools.combinations(ALL_FLAGS, size):
            before = quality_score(list(flags), token_count=100, assistant_tokens=40)
            for extra in set(ALL_FLAGS) - set(flags):
                after = quality_score([*flags, extra], token_count=100, assistant_tokens=40)
                assert after <= before, (flags, extra)


@pytest.mark.parametrize("flag", ALL_FLAGS)
def test_every_flag_lowers_a_clean_score(flag: str) -> None:
    assert quality_score([flag], token_count=100, assistant_tokens=40) < 1.0


def test_every_blocked_example_scores_below_every_unblocked_one() -> None:
    blocked, unblocked = [], []
    for size in range(len(ALL_FLAGS) + 1):
        for flags in itertools.combinations(ALL_FLAGS, size):
            for assistant_tokens in (0, 5, 40):
                score = quality_score(
                    list(flags), token_count=100, assistant_tokens=assistant_tokens
                )
                (blocked if BLOCKING_FLAGS & set(flags) else unblocked).append(score)
    assert max(blocked) < min(unblocked)
    assert max(blocked) <= quality.BLOCKING_CAP


def test_more_blocking_flags_score_lower() -> None:
    one = quality_score([OVER_TOKEN_LIMIT], token_count=100, assistant_tokens=40)
    two = quality_score(
        [OVER_TOKEN_LIMIT, DEGENERATE_REPETITION], token_count=100, assistant_tokens=40
    )
    assert 0 < two < one


def test_more_assistant_tokens_never_lower_the_score() -> None:
    scores = [
        quality_score([NO_SYSTEM_MESSAGE], token_count=1000, assistant_tokens=tokens)
        for tokens in range(0, 1001, 10)
    ]
    assert scores == sorted(scores)
    assert scores[0] < scores[-1]


def test_duplicate_flags_count_once() -> None:
    once = quality_score([SHORT_ASSISTANT_REPLY], token_count=100, assistant_tokens=40)
    twice = quality_score([SHORT_ASSISTANT_REPLY] * 2, token_count=100, assistant_tokens=40)
    assert once == twice


def test_negative_token_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        quality_score([], token_count=-1, assistant_tokens=0)


# -- near-duplicates -------------------------------------------------------------------

# A 300-word vocabulary: random texts from it share few 5-word shingles by chance.
WORDS = [f"{stem}{number}" for stem in ("lex", "mot", "vox") for number in range(100)]


def random_text(rng: random.Random, words: int = 120) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def edit_words(rng: random.Random, text: str, edits: int) -> str:
    words = text.split()
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def conversation(text: str, *, system: str = "You are helpful.") -> list[dict[str, Any]]:
    words = text.split(" ")
    half = len(words) // 2
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": " ".join(words[:half])},
        {"role": "assistant", "content": " ".join(words[half:])},
    ]


def test_signature_is_packed_uint32_and_deterministic() -> None:
    messages = conversation(random_text(random.Random(1)))
    signature = minhash_signature(messages)
    assert isinstance(signature, bytes)
    assert len(signature) == 64 * 4
    assert minhash_signature(messages) == signature
    assert len(minhash_signature(messages, num_perm=128)) == 128 * 4


def test_signature_does_not_depend_on_the_process() -> None:
    messages = conversation(random_text(random.Random(2)))
    script = (
        "import json, sys; from curation.quality import minhash_signature; "
        "print(minhash_signature(json.loads(sys.stdin.read())).hex())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(messages),
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert bytes.fromhex(result.stdout.strip()) == minhash_signature(messages)


def test_signature_ignores_system_prompt_case_and_punctuation() -> None:
    text = random_text(random.Random(3))
    plain = minhash_signature(conversation(text))
    assert minhash_signature(conversation(text, system="Something else entirely.")) == plain
    shouted = text.upper().replace(" ", ", ")
    assert minhash_signature(conversation(shouted)) == plain


def test_signature_estimates_the_shingle_jaccard() -> None:
    rng = random.Random(4)
    for edits in (2, 6, 15, 40):
        base = random_text(rng, 200)
        variant = edit_words(rng, base, edits)
        a, b = shingles(base), shingles(variant)
        exact = len(a & b) / len(a | b)
        estimate = signature_jaccard(
            minhash_signature([reply(base)], num_perm=256),
            minhash_signature([reply(variant)], num_perm=256),
        )
        # 256 permutations: standard error at most 0.031, so 0.12 is about four of them.
        assert abs(estimate - exact) < 0.12, (edits, exact, estimate)


def test_empty_conversation_signature_is_skipped_by_clustering() -> None:
    empty = minhash_signature([reply("")])
    assert empty == b"\xff" * 256
    assert cluster_near_duplicates([(1, empty), (2, empty)]) == []


def test_near_identical_conversations_cluster_and_different_ones_do_not() -> None:
    rng = random.Random(5)
    base = random_text(rng, 300)
    other = random_text(rng, 300)
    items = [
        (10, minhash_signature(conversation(base))),
        (3, minhash_signature(conversation(edit_words(rng, base, 1)))),
        (7, minhash_signature(conversation(other))),
        (5, minhash_signature(conversation(edit_words(rng, other, 1)))),
        (8, minhash_signature(conversation(random_text(rng, 300)))),
    ]
    assert cluster_near_duplicates(items) == [[3, 10], [5, 7]]


def test_clusters_do_not_depend_on_input_order() -> None:
    rng = random.Random(6)
    items = []
    for family in range(20):
        base = random_text(rng, 150)
        for copy in range(family % 3 + 1):
            items.append((family * 10 + copy, minhash_signature([reply(edit_words(rng, base, 1))])))
    expected = cluster_near_duplicates(items)
    assert expected == sorted(expected)
    assert all(cluster == sorted(cluster) and len(cluster) >= 2 for cluster in expected)
    for seed in range(3):
        shuffled = items[:]
        random.Random(seed).shuffle(shuffled)
        assert cluster_near_duplicates(shuffled) == expected


def mutate(rng: np.random.Generator, row: np.ndarray, changes: int) -> np.ndarray:
    changed = row.copy()
    positions = rng.choice(row.size, changes, replace=False)
    changed[positions] = rng.integers(0, 2**32 - 1, changes, dtype=np.uint32)
    return changed


def brute_force_clusters(rows: dict[int, np.ndarray], threshold: float) -> list[list[int]]:
    ids = sorted(rows)
    parent = {item: item for item in ids}

    def find(item: int) -> int:
        while parent[item] != item:
            item = parent[item]
        return item

    for a, b in itertools.combinations(ids, 2):
        if np.count_nonzero(rows[a] == rows[b]) / rows[a].size >= threshold:
            parent[max(find(a), find(b))] = min(find(a), find(b))
    groups: dict[int, list[int]] = {}
    for item in ids:
        groups.setdefault(find(item), []).append(item)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)


def test_links_are_transitive() -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2**32 - 1, 64, dtype=np.uint32)
    b = a.copy()
    b[:6] = rng.integers(0, 2**32 - 1, 6, dtype=np.uint32)
    c = b.copy()
    c[58:] = rng.integers(0, 2**32 - 1, 6, dtype=np.uint32)
    assert signature_jaccard(a.tolist(), b.tolist()) >= 0.85
    assert signature_jaccard(b.tolist(), c.tolist()) >= 0.85
    assert signature_jaccard(a.tolist(), c.tolist()) < 0.85
    items = [(1, a.tolist()), (2, b.tolist()), (3, c.tolist())]
    assert cluster_near_duplicates(items) == [[1, 2, 3]]


def test_sharing_a_band_is_not_enough_to_be_linked() -> None:
    rng = np.random.default_rng(8)
    _, rows = band_parameters(0.85, 64)
    a = rng.integers(0, 2**32 - 1, 64, dtype=np.uint32)
    b = rng.integers(0, 2**32 - 1, 64, dtype=np.uint32)
    b[:rows] = a[:rows]
    assert cluster_near_duplicates([(1, a.tobytes()), (2, b.tobytes())]) == []


def test_matches_brute_force_including_big_buckets() -> None:
    rng = np.random.default_rng(9)
    rows: dict[int, np.ndarray] = {}
    template = rng.integers(0, 2**32 - 1, 64, dtype=np.uint32)
    # 80 near-copies of one template make buckets far above the pair-expansion limit.
    for item in range(80):
        rows[item] = mutate(rng, template, int(rng.integers(0, 12)))
    for family in range(30):
        base = rng.integers(0, 2**32 - 1, 64, dtype=np.uint32)
        for copy in range(3):
            rows[1000 + family * 10 + copy] = mutate(rng, base, int(rng.integers(0, 14)))
    for item in range(200):
        rows[5000 + item] = rng.integers(0, 2**32 - 1, 64, dtype=np.uint32)
    rows[9000] = rows[5000].copy()
    items = [(item, row.tobytes()) for item, row in rows.items()]
    expected = brute_force_clusters(rows, 0.85)
    assert max(len(cluster) for cluster in expected) > 32
    assert [5000, 9000] in expected
    assert cluster_near_duplicates(items, threshold=0.85) == expected


def test_hash_collisions_never_merge_different_signatures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every row and band hashing alike is the worst case: one bucket holding everything.
    monkeypatch.setattr(
        clusters, "_row_hashes", lambda block: np.zeros(block.shape[0], dtype=np.uint64)
    )
    rng = np.random.default_rng(12)
    rows: dict[int, np.ndarray] = {}
    for family in range(15):
        base = rng.integers(0, 2**32 - 1, 64, dtype=np.uint32)
        for copy in range(family % 3 + 1):
            rows[family * 10 + copy] = mutate(rng, base, copy * 3)
    rows[500] = rows[0].copy()
    items = [(item, row.tobytes()) for item, row in rows.items()]
    assert cluster_near_duplicates(items) == brute_force_clusters(rows, 0.85)


def test_matches_datasketch_minhash_lsh_on_real_signatures() -> None:
    rng = random.Random(10)
    signatures: dict[int, bytes] = {}
    for family in range(40):
        base = random_text(rng, 100)
        for copy in range(rng.randint(1, 4)):
            text = edit_words(rng, base, rng.randint(0, 4))
            signatures[family * 100 + copy] = minhash_signature(conversation(text))
    threshold = 0.85
    lsh = MinHashLSH(threshold=threshold, num_perm=64, params=band_parameters(threshold, 64))
    minhashes = {
        item: LeanMinHash(
            seed=quality.MINHASH_SEED, hashvalues=np.frombuffer(sig, "<u4"), scheme="affine32"
        )
        for item, sig in signatures.items()
    }
    for item, minhash in minhashes.items():
        lsh.insert(item, minhash)
    parent = {item: item for item in signatures}

    def find(item: int) -> int:
        while parent[item] != item:
            item = parent[item]
        return item

    for item, minhash in minhashes.items():
        for other in lsh.query(minhash):
            if other != item and minhash.jaccard(minhashes[other]) >= threshold:
                parent[max(find(item), find(other))] = min(find(item), find(other))
    groups: dict[int, list[int]] = {}
    for item in signatures:
        groups.setdefault(find(item), []).append(item)
    expected = sorted(sorted(group) for group in groups.values() if len(group) > 1)
    assert len(expected) >= 10
    assert cluster_near_duplicates(signatures.items(), threshold=threshold) == expected


def test_list_of_ints_and_bytes_signatures_are_interchangeable() -> None:
    rng = random.Random(11)
    text = random_text(rng)
    as_bytes = minhash_signature([reply(text)])
    as_ints = np.frombuffer(as_bytes, "<u4").tolist()
    near = minhash_signature([reply(edit_words(rng, text, 1))])
    assert cluster_near_duplicates([(1, as_ints), (2, near)]) == [[1, 2]]
    assert signature_jaccard(as_ints, as_bytes) == 1.0


def test_bad_signatures_are_rejected() -> None:
    sig = minhash_signature([reply("some words here to hash")])
    with pytest.raises(ValueError, match="same number"):
        cluster_near_duplicates([(1, sig), (2, sig + sig)])
    with pytest.raises(ValueError, match="unique"):
        cluster_near_duplicates([(1, sig), (1, sig)])
    with pytest.raises(ValueError):
        cluster_near_duplicates([(1, b"abc")])
    with pytest.raises(ValueError):
        signature_jaccard([1, 2], [1, 2, 3])
    assert cluster_near_duplicates([]) == []


def test_band_parameters_keep_misses_at_the_threshold_under_one_percent() -> None:
    for threshold, num_perm in [(0.85, 64), (0.7, 64), (0.9, 128), (0.5, 32)]:
        bands, rows = band_parameters(threshold, num_perm)
        assert bands * rows <= num_perm
        assert 1 - (1 - threshold**rows) ** bands >= 0.99
        # One more row per band would miss more than 1% of pairs at the threshold.
        wider = num_perm // (rows + 1)
        assert 1 - (1 - threshold ** (rows + 1)) ** wider < 0.99
    with pytest.raises(ValueError):
        band_parameters(0.0, 64)
