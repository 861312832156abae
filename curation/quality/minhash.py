"""MinHash signatures over word shingles of what a conversation says (near-duplicate input)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from curation.quality.conversation import WORD
from curation.texts import Message, message_text

# datasketch imports scipy: loaded inside the functions that use it (see clusters.py).
if TYPE_CHECKING:
    from datasketch import MinHash

# A stored signature: packed little-endian uint32 bytes, or the same values as ints.
Signature = bytes | bytearray | memoryview | Sequence[int]

SHINGLE_WORDS: Final = 5
DEFAULT_NUM_PERM: Final = 64
# Fixed so signatures stored in the database stay comparable across processes and releases.
MINHASH_SEED: Final = 1


def dedup_text(messages: Iterable[Message]) -> str:
    """The text near-duplicate detection compares.

    System and developer messages are left out: a dataset usually shares one system prompt,
    which would make every pair of its conversations look alike. Tool calls count, as they
    are what the assistant produced.
    """
    pieces: list[str] = []
    for message in messages:
        if message.get("role") in {"system", "developer"}:
            continue
        pieces.append(message_text(message))
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                pieces.append(str(function.get("name") or ""))
                pieces.append(str(function.get("arguments") or ""))
    return "\n".join(pieces)


def shingles(text: str, *, size: int = SHINGLE_WORDS) -> set[bytes]:
    """Overlapping `size`-word shingles of NFKC-normalised, case-folded words.

    A text shorter than `size` words is one shingle, so two short texts can still match.
    """
    words = WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if not words:
        return set()
    if len(words) <= size:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


@lru_cache(maxsize=8)
def _template(num_perm: int) -> MinHash:
    # Building the permutations draws num_perm random pairs; share them across signatures.
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=MINHASH_SEED, scheme="affine32")


def minhash_signature(messages: Iterable[Message], *, num_perm: int = DEFAULT_NUM_PERM) -> bytes:
    """MinHash of the conversation's word shingles, as `num_perm` little-endian uint32s.

    A conversation with no words gets the all-0xFFFFFFFF signature of the empty set, which
    `cluster_near_duplicates` ignores.
    """
    from datasketch import MinHash

    template = _template(num_perm)
    minhash = MinHash(
        num_perm=num_perm,
        seed=MINHASH_SEED,
        hashvalues=template.hashvalues.copy(),
        permutations=template.permutations,
        scheme="affine32",
    )
    # Fed in slices: datasketch hashes a batch as an (n, num_perm) array, which for a
    # megabyte-long conversation would take hundreds of megabytes at once. MinHash keeps
    # the minimum per permutation, so slices and repeated shingles give the same signature.
    for batch in _shingle_batches(dedup_text(messages)):
        minhash.update_batch(batch)
    return minhash.hashvalues.astype("<u4").tobytes()


SHINGLE_BATCH: Final = 8192
_PIECE_CHARS: Final = 64 * 1024


def _pieces(text: str) -> Iterator[str]:
    """`text` in pieces of about 64K characters, cut at whitespace so no word is split (NFKC
    and case folding never join characters across whitespace)."""
    start = 0
    while start < len(text):
        end = min(len(text), start + _PIECE_CHARS)
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            if cut > start:
                end = cut + 1
        yield text[start:end]
        start = end


def _shingle_batches(text: str, *, size: int = SHINGLE_WORDS) -> Iterator[list[bytes]]:
    """The shingles of `shingles()`, in bounded lists (repeats allowed), without holding all
    the words of a long text."""
    if len(text) <= 64 * 1024:
        found = shingles(text, size=size)
        if found:
            yield list(found)
        return
    carry: list[str] = []  # the last size-1 words of the previous piece
    batch: set[bytes] = set()
    count = 0
    for piece in _pieces(text):
        words = carry + WORD.findall(unicodedata.normalize("NFKC", piece).casefold())
        count += len(words) - len(carry)
        batch.update(
            " ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)
        )
        carry = words[-(size - 1) :] if size > 1 else []
        if len(batch) >= SHINGLE_BATCH:
            yield list(batch)
            batch = set()
    if 0 < count < size:
        batch.add(" ".join(carry).encode("utf-8"))
    if batch:
        yield list(batch)
