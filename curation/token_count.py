"""Exact token counts, offline.

Counts come from `bpe-openai` (bindings to GitHub's BPE crate), which counts without
materialising token lists, ships its vocabularies inside the package and releases the GIL,
so two threads count on two cores. Its counts equal tiktoken's `encode_ordinary` — the
tests check that on every text they use, against tiktoken loaded from the copy of the
official rank files packaged in `quicktok-v1` (tiktoken would otherwise download them; it
checks them against the sha256 it pins for each encoding, so a wrong copy fails loudly).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.machinery
import importlib.resources
import importlib.util
import json
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings

# Edges of the token-length histogram (examples per bucket), shared by the dataset dashboard
# and every version's datasheet so the two can be compared bucket by bucket.
TOKEN_BUCKETS: tuple[int, ...] = (0, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)

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
def get_encoding(name: str | None = None) -> Any:
    """tiktoken's encoding: the reference the counter is checked against (3 s to load, so
    imported only when asked for)."""
    import tiktoken

    name = name or settings.CURATOR_TOKEN_ENCODING
    if name not in _SOURCES:
        raise ValueError(f"unsupported token encoding {name!r}")
    cache_dir = Path(settings.CURATOR_TIKTOKEN_CACHE_DIR)
    _prime_cache(name, cache_dir)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return tiktoken.get_encoding(name)


@functools.cache
def _bpe_bindings() -> Any:
    """bpe-openai's compiled module, loaded on its own: the package's `__init__` builds
    Python dictionaries of all three vocabularies (3 s, 200 MB) that counting never uses."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("bpe-openai is not installed (see pyproject.toml)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    library = next(folder.glob("_bindings*.so"), None) or next(folder.glob("_bindings*.pyd"))
    loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", str(library))
    module_spec = importlib.util.spec_from_file_location(
        "bpe_openai._bindings", library, loader=loader
    )
    assert module_spec is not None
    module = importlib.util.module_from_spec(module_spec)
    loader.exec_module(module)
    return module


@functools.cache
def get_counter(name: str | None = None) -> Any:
    """The exact counter for an encoding (`count(text) -> int`), loaded once per process."""
    name = name or settings.CURATOR_TOKEN_ENCODING
    if name not in _SOURCES:
        raise ValueError(f"unsupported token encoding {name!r}")
    return _bpe_bindings().tokenizer_for_encoding(name)


def count_text(text: str) -> int:
    """Tokens of `text` as tiktoken's `encode_ordinary` counts them."""
    try:
        return get_counter().count(text)
    except UnicodeError:
        # Lone surrogates (possible from a JSON array's \ud800): replaced as tiktoken does.
        clean = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return get_counter().count(clean)


@functools.cache
def _constant_tokens(text: str) -> int:
    return count_text(text)


def _message_texts(message: dict[str, Any]) -> list[str]:
    texts = []
    content = message.get("content")
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


def _count_one(
    messages: list[dict[str, Any]], tools: Any, system_cache: dict[str, int]
) -> tuple[int, int]:
    count = get_counter().count
    total, assistant = TOKENS_REPLY_PRIMING, 0
    for message in messages:
        role = message.get("role", "")
        content = message.get("content")
        total += TOKENS_PER_MESSAGE + _constant_tokens(str(role))
        if len(message) == 2 and type(content) is str:
            # The common case: a plain text message.
            if role == "system":
                tokens = system_cache.get(content)
                if tokens is None:
                    tokens = system_cache[content] = count_text(content)
            else:
                try:
                    tokens = count(content)
                except UnicodeError:
                    tokens = count_text(content)
        else:
            if message.get("name"):
                total += TOKENS_PER_NAME
            tokens = sum(count_text(text) for text in _message_texts(message))
        total += tokens
        if role == "assistant":
            assistant += tokens
    if tools:
        total += count_text(json.dumps(tools, ensure_ascii=False))
    return total, assistant


def _count_all(conversations: list[tuple[list[dict[str, Any]], Any]]) -> list[tuple[int, int]]:
    system_cache: dict[str, int] = {}
    return [_count_one(messages, tools, system_cache) for messages, tools in conversations]


def count_conversations(
    conversations: list[tuple[list[dict[str, Any]], Any]], *, threads: bool = True
) -> list[tuple[int, int]]:
    """(total tokens, assistant tokens) per (messages, tools) pair, as OpenAI's cookbook counts.

    `threads=False` for callers that already run one process per core."""
    if len(conversations) < 500 or not threads:
        return _count_all(conversations)
    # The counter releases the GIL: the second half is counted on the other core.
    half = len(conversations) // 2
    with ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(_count_all, conversations[half:])
        return _count_all(conversations[:half]) + second.result()
