"""Token counting with tiktoken, loaded offline.

tiktoken downloads its BPE ranks on first use. We rebuild the official rank files from the
copy packaged in `quicktok-v1` and put them where tiktoken's own cache looks; tiktoken then
checks them against the sha256 it has pinned for each encoding, so a wrong copy fails loudly.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.resources
import json
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tiktoken
from django.conf import settings

_SOURCES = {
    "o200k_base": (
        "o200k.vocab",
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    ),
    "cl100k_base": (
        "cl100k.vocab",
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    ),
}

# As counted in OpenAI's cookbook (num_tokens_from_messages) for gpt-4o-era chat models.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMING = 3


def _read_packaged_ranks(filename: str) -> bytes:
    """Convert quicktok's binary vocabulary (u32 count, then u16 length + bytes + u32 rank)."""
    data = importlib.resources.files("quicktok").joinpath("data", filename).read_bytes()
    (count,) = struct.unpack_from("<I", data, 0)
    offset, ranks = 4, []
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, offset)
        token = data[offset + 2 : offset + 2 + length]
        (rank,) = struct.unpack_from("<I", data, offset + 2 + length)
        offset += 6 + length
        ranks.append((rank, token))
    ranks.sort()
    return b"".join(
        base64.b64encode(token) + b" " + str(rank).encode() + b"\n" for rank, token in ranks
    )


def _prime_cache(name: str, cache_dir: Path) -> None:
    filename, url = _SOURCES[name]
    # tiktoken names cache entries by the sha1 of the URL it would fetch.
    target = cache_dir / hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()
    if target.exists():
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_bytes(_read_packaged_ranks(filename))
    temporary.replace(target)


@functools.cache
def get_encoding(name: str | None = None) -> tiktoken.Encoding:
    name = name or settings.CURATOR_TOKEN_ENCODING
    if name not in _SOURCES:
        raise ValueError(f"unsupported token encoding {name!r}")
    cache_dir = Path(settings.CURATOR_TIKTOKEN_CACHE_DIR)
    _prime_cache(name, cache_dir)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return tiktoken.get_encoding(name)


def _message_texts(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if len(message) == 2 and type(content) is str:
        return [content]
    texts = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        texts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    if message.get("name"):
        texts.append(str(message["name"]))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        texts.append(str(function.get("name", "")))
        texts.append(str(function.get("arguments", "")))
    if message.get("tool_call_id"):
        texts.append(str(message["tool_call_id"]))
    return texts


def _encode_lengths(encoding: tiktoken.Encoding, texts: list[str]) -> list[int]:
    """Token count of each text, counting each distinct text once (system prompts repeat)."""
    distinct = list(dict.fromkeys(texts))
    if len(distinct) < 2000:
        counts = [len(encoding.encode_ordinary(text)) for text in distinct]
    else:
        # tiktoken releases the GIL, so the two halves run on two cores.
        half = len(distinct) // 2
        with ThreadPoolExecutor(max_workers=1) as pool:
            second = pool.submit(
                lambda: [len(encoding.encode_ordinary(text)) for text in distinct[half:]]
            )
            counts = [
                len(encoding.encode_ordinary(text)) for text in distinct[:half]
            ] + second.result()
    by_text = dict(zip(distinct, counts, strict=True))
    return [by_text[text] for text in texts]


@functools.cache
def _constant_tokens(text: str) -> int:
    return len(get_encoding().encode_ordinary(text))


def count_conversations(
    conversations: list[tuple[list[dict[str, Any]], Any]],
) -> list[tuple[int, int]]:
    """(total tokens, assistant tokens) per (messages, tools) pair, as OpenAI's cookbook counts."""
    encoding = get_encoding()
    texts: list[str] = []
    # Per conversation: fixed tokens (overheads and roles), then (text count, is assistant) per message.
    plan: list[tuple[int, list[tuple[int, bool]]]] = []
    for messages, tools in conversations:
        fixed = TOKENS_REPLY_PRIMING
        parts: list[tuple[int, bool]] = []
        for message in messages:
            fixed += TOKENS_PER_MESSAGE + _constant_tokens(str(message.get("role", "")))
            if message.get("name"):
                fixed += TOKENS_PER_NAME
            message_texts = _message_texts(message)
            texts.extend(message_texts)
            parts.append((len(message_texts), message.get("role") == "assistant"))
        if tools:
            texts.append(json.dumps(tools, ensure_ascii=False))
            parts.append((1, False))
        plan.append((fixed, parts))
    lengths = _encode_lengths(encoding, texts)
    results: list[tuple[int, int]] = []
    cursor = 0
    for fixed, parts in plan:
        total, assistant = fixed, 0
        for text_count, is_assistant in parts:
            tokens = sum(lengths[cursor : cursor + text_count])
            total += tokens
            if is_assistant:
                assistant += tokens
            cursor += text_count
        results.append((total, assistant))
    return results


def count_text(text: str) -> int:
    return len(get_encoding().encode_ordinary(text))
