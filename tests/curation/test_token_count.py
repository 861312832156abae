"""Token counts are exact: equal to tiktoken's o200k_base on every text the tests use, and
the counter needs no network."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys

import pytest

from curation.importers import ImportFileError, Limits, detect_format, iter_records, open_binary
from curation.token_count import (
    TOKENS_PER_MESSAGE,
    TOKENS_PER_NAME,
    TOKENS_REPLY_PRIMING,
    count_conversations,
    count_text,
    get_encoding,
)
from tests.conftest import DATA, ROOT

SPECIAL = [
    "",
    " ",
    "hello world",
    "  \n\n\t  spaces   \r\n",
    "A" * 5000,
    "1234567890" * 40,
    "def f(x):\n    return x**2  # comment\n",
    "'s 're 've 'll 'd n't",
    "Ünïcödé ✓ 日本語のテキスト 😀👍🏽 مرحبا Привет",
    "\u00a0\u2003\u200b zero width",
    "<|endoftext|> <|fim_prefix|> special tokens are ordinary text here",
    "http://example.com/a?b=c&d=e#frag",
    '{"name": "get_weather", "arguments": {"city": "Paris"}}',
    "Chicken and Bell Pepper Stir Fry\n\n1. Cook\n2. Bake",
]


def reference(text: str) -> int:
    return len(get_encoding("o200k_base").encode_ordinary(text))


def reference_conversation(messages, tools) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The cookbook's count with tiktoken itself, written out independently."""
    total, assistant = TOKENS_REPLY_PRIMING, 0
    for message in messages:
        total += TOKENS_PER_MESSAGE + reference(message["role"])
        texts = []
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [part.get("text", "") for part in content]
        if message.get("name"):
            total += TOKENS_PER_NAME
            texts.append(message["name"])
        for call in message.get("tool_calls") or []:
            texts += [call["function"]["name"], call["function"]["arguments"]]
        if message.get("tool_call_id"):
            texts.append(message["tool_call_id"])
        tokens = sum(reference(text) for text in texts)
        total += tokens
        if message["role"] == "assistant":
            assistant += tokens
    if tools:
        total += reference(json.dumps(tools, ensure_ascii=False))
    return total, assistant


@pytest.mark.parametrize("text", SPECIAL)
def test_counts_equal_tiktoken_on_special_texts(text):
    assert count_text(text) == reference(text)


def test_counts_equal_tiktoken_on_random_unicode():
    rng = random.Random(11)
    alphabet = "aZ09 \n\t.,;:'\"!?-_()[]{}<>/\\@#$%^&*+=~`|éß日本😀\u00a0\u200bçñø"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        assert count_text(text) == reference(text), text


def test_a_lone_surrogate_is_counted_as_tiktoken_counts_it():
    text = "broken \ud800 surrogate"
    assert count_text(text) == reference(text)


def every_data_file():  # type: ignore[no-untyped-def]
    return sorted(path for path in DATA.rglob("*") if path.is_file())


def test_every_conversation_in_the_test_files_is_counted_as_tiktoken_counts():
    # Counted on the records as the import reads them (tools keep their key order; jsonb
    # would reorder them, and the text of the tools is what is counted).
    limits = Limits(line_bytes=4 * 1024**2, file_bytes=1024**3)
    checked = 0
    for path in every_data_file():
        try:
            fmt = detect_format(path, original_name=path.name, limits=limits)
            stream, _ = open_binary(path)
            with stream:
                records = [r for r in iter_records(stream, fmt, limits=limits) if r.normalized]
        except ImportFileError:
            continue
        pairs = [(r.normalized.messages, r.normalized.tools) for r in records]
        assert count_conversations(pairs) == [reference_conversation(*p) for p in pairs], path
        for messages, _ in pairs:
            for message in messages:
                if isinstance(message.get("content"), str):
                    assert count_text(message["content"]) == reference(message["content"])
        checked += len(pairs)
    # FastChat's 500 conversations (tests/data/reference) are among them.
    assert checked > 500


def test_many_conversations_counted_in_two_threads_equal_the_reference():
    rng = random.Random(5)
    conversations = [
        (
            [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "content": f"#{n} " + "word " * rng.randint(1, 50)},
                {"role": "assistant", "content": "ok " * rng.randint(1, 50), "name": "bot"},
            ],
            [{"type": "function", "function": {"name": "f"}}] if n % 7 == 0 else None,
        )
        for n in range(1200)
    ]
    assert count_conversations(conversations) == [reference_conversation(*c) for c in conversations]


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare for a network namespace")
def test_the_counter_loads_with_no_network():
    code = (
        "from curation.token_count import get_counter;"
        "import django.conf as c; c.settings.configure(CURATOR_TOKEN_ENCODING='o200k_base');"
        "print(get_counter().count('hello world'))"
    )
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("network namespaces are not allowed here")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
