"""Quality signals for one conversation, and near-duplicate clusters across many.

Everything here is pure Python over OpenAI chat messages (dicts with `role`, `content` as a
string, None or a list of parts, `tool_calls`, ...): no database access, so callers decide
when to compute and where to store the results.

Near-duplicates use MinHash over word shingles. A signature is `num_perm` unsigned 32-bit
values packed little-endian into `bytes` (256 bytes at the default 64 permutations), which
fits a `BinaryField`; `cluster_near_duplicates` also accepts the same values as a list of
ints (store those as bigint: they exceed a signed 32-bit integer).
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from curation.flags import (
    DEGENERATE_REPETITION,
    DUPLICATE,
    EMPTY_ASSISTANT_REPLY,
    NEAR_DUPLICATE,
    NO_ASSISTANT_REPLY,
    NO_SYSTEM_MESSAGE,
    NO_USER_MESSAGE,
    OVER_TOKEN_LIMIT,
    SHORT_ASSISTANT_REPLY,
)
from curation.texts import Message, message_text

# numpy and datasketch (which imports scipy) are imported inside the functions that use them:
# the URL config reaches this module (registry drift views), and every manage.py command
# loads the URL config for its system checks.
if TYPE_CHECKING:
    import numpy as np
    from datasketch import MinHash

Signature = bytes | bytearray | memoryview | Sequence[int]


# The order `signals` reports flags in, so stored flag lists compare equal.
SIGNAL_FLAGS: Final = (
    NO_SYSTEM_MESSAGE,
    NO_USER_MESSAGE,
    NO_ASSISTANT_REPLY,
    EMPTY_ASSISTANT_REPLY,
    SHORT_ASSISTANT_REPLY,
    OVER_TOKEN_LIMIT,
    DEGENERATE_REPETITION,
)

# Flags that make an example unfit to train on as it stands: it would be rejected by the
# provider, teach the model nothing, or teach it to loop. The rest are warnings.
BLOCKING_FLAGS: Final = frozenset(
    {OVER_TOKEN_LIMIT, NO_ASSISTANT_REPLY, EMPTY_ASSISTANT_REPLY, DEGENERATE_REPETITION, DUPLICATE}
)

# "Under ~3 words": one- and two-word replies ("Sure.", "You're great!") rarely show the
# model anything worth learning; three words already make a sentence ("It's easy, really").
SHORT_REPLY_WORDS: Final = 3

# -- Degenerate repetition ------------------------------------------------------------
# Two linear-time detectors, because loops come in two shapes:
#
# 1. Byte level. zlib (LZ77) encodes text it has already seen as short back-references, so a
#    window that is mostly a loop compresses far better than any prose, code or table. We
#    compress 2 KiB windows (stride 1 KiB, so any loop of 3 KiB or more fills a whole window)
#    rather than the whole text, because a loop at the end of a long, normal answer would be
#    diluted in a whole-text ratio. Calibration on ~23,000 chunks (1k, 4k and 30k characters)
#    of real text (Node.js and Rust Markdown docs, CPython and site-package sources,
#    licences, HTML templates, JSON, text files): the highest window ratio was 12.3 (a
#    Markdown page of tables); only generated data (parser tables, 0/1 matrices) went higher.
#    Pure loops reach 40-300 ("Eat a banana!" x 2000 gives ~70 per window), so 20 sits
#    between them with room on both sides. This also catches loops that have no words at
#    all ("!!!!", emoji, unspaced CJK).
# 2. Token level. Loops of a long unit (a paragraph said again and again) compress only about
#    as well as a repetitive table in a 2 KiB window, so we also look for back-to-back copies
#    in the token sequence (words and punctuation runs), see `longest_loop`. We flag at
#    least 4 consecutive copies covering at least 60 tokens. In the same calibration the
#    longest legitimate stretch with 4+ copies covered 46 tokens (a run of ", 0"); with 3
#    copies, 68 tokens (code repeating one statement three times); with 2, 148 (a passage
#    said twice). Real loops run on until the length limit, far past both bars.
#
# Cost: zlib sees each byte twice and each token is looked up and compared a bounded number
# of times, about 5 ms for 30,000 characters of prose. The loops we do not flag: copies
# that differ by a counter ("1. Eat a banana 2. Eat a ...") are not periodic token for
# token, and telling them from reference lists ("[123]: https://…/pull/123") would need
# more than a threshold, so those are left to the reviewer.
MIN_REPETITION_CHARS: Final = 200
LOOP_WINDOW_CHARS: Final = 256 * 1024
COMPRESSION_WINDOW: Final = 2048
COMPRESSION_STRIDE: Final = 1024
LOOP_COMPRESSION_RATIO: Final = 20.0
LOOP_MIN_TOKENS: Final = 60
LOOP_MIN_COPIES: Final = 4
_LOOP_NGRAM: Final = 3

_WORD = re.compile(r"\w+")
# Punctuation counts in loop detection: code lines that differ only in their symbols
# ("(r'\+', Operator)", "(r'-', Operator)") are not copies of each other.
_LOOP_TOKEN = re.compile(r"\w+|[^\w\s]+")
# Scripts written without spaces: count each character as a word, or a one-line Chinese
# answer would look like a single "word".
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def assistant_text(messages: Iterable[Message]) -> str:
    """All assistant text of a conversation, one message per paragraph (tool calls excluded)."""
    return "\n\n".join(
        text
        for message in messages
        if message.get("role") == "assistant" and (text := message_text(message))
    )


def _has_tool_call(message: Message) -> bool:
    return bool(message.get("tool_calls")) or bool(message.get("function_call"))


def word_count(text: str) -> int:
    """Words as a reader counts them: whitespace-separated, with CJK characters one each."""
    count = 0
    for token in text.split():
        unspaced = len(_UNSPACED.findall(token))
        if unspaced:
            # The rest of a mixed token ("OK好的") still counts as one word if it has letters.
            rest = _UNSPACED.sub("", token)
            count += unspaced + (1 if _WORD.search(rest) else 0)
        elif _WORD.search(token):
            count += 1
    return count


def compression_ratio(data: bytes) -> float:
    """Raw size over zlib-compressed size (level 6); ``0.0`` for empty input."""
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data, 6))


def _loops_bytewise(data: bytes) -> bool:
    if len(data) <= COMPRESSION_WINDOW:
        return compression_ratio(data) >= LOOP_COMPRESSION_RATIO
    last_start = len(data) - COMPRESSION_WINDOW
    starts = list(range(0, last_start + 1, COMPRESSION_STRIDE))
    if starts[-1] != last_start:
        starts.append(last_start)
    return any(
        compression_ratio(data[start : start + COMPRESSION_WINDOW]) >= LOOP_COMPRESSION_RATIO
        for start in starts
    )


def longest_loop(tokens: Sequence[str]) -> tuple[int, float]:
    """The longest back-to-back repetition in `tokens`: (tokens it covers, number of copies).

    When a token trigram recurs `p` tokens after its last occurrence, we extend the match
    token by token while each token equals the one `p` earlier; the matched stretch plus
    the `p` tokens before it is `p`-periodic. The trigrams inside a stretch are recorded but
    not extended again, which keeps the scan linear. Stretches with fewer than two copies
    (a phrase that merely recurs later on) are ignored.
    """
    n = _LOOP_NGRAM
    size = len(tokens)
    grams = list(zip(*(tokens[offset:] for offset in range(n)), strict=False))
    last_seen: dict[tuple[str, ...], int] = {}
    best_tokens, best_copies = 0, 0.0
    index = 0
    while index < len(grams):
        start = index
        seen_at = last_seen.get(grams[start])
        last_seen[grams[start]] = start
        index += 1
        if seen_at is None:
            continue
        gap = start - seen_at
        end = start + n
        while end < size and tokens[end] == tokens[end - gap]:
            end += 1
        repeated = end - start
        covered = repeated + gap
        if repeated >= gap and covered > best_tokens:
            best_tokens, best_copies = covered, covered / gap
        while index < end - n + 1:
            last_seen[grams[index]] = index
            index += 1
    return best_tokens, best_copies


def is_degenerate_repetition(text: str) -> bool:
    """Whether `text` loops: see the calibration notes above the thresholds."""
    if len(text) < MIN_REPETITION_CHARS:
        return False
    if _loops_bytewise(text.encode("utf-8")):
        return True
    # Token lists cost ~100 bytes a token: long texts are read in overlapping windows so
    # memory stays bounded whatever the text's length (a loop of 60 tokens fits in one).
    for start in range(0, max(1, len(text) - LOOP_WINDOW_CHARS // 2), LOOP_WINDOW_CHARS // 2):
        window = text[start : start + LOOP_WINDOW_CHARS]
        covered, copies = longest_loop(_LOOP_TOKEN.findall(window.casefold()))
        if covered >= LOOP_MIN_TOKENS and copies >= LOOP_MIN_COPIES:
            return True
    return False


def signals(messages: Sequence[Message], *, token_count: int, token_limit: int) -> list[str]:
    """Quality flags of one conversation, in `SIGNAL_FLAGS` order.

    `token_count` is the conversation's training token count and `token_limit` the most the
    dataset's target model accepts. System and developer messages both count as a system
    message. Only the final assistant message can be short; an assistant message that calls
    a tool is never empty or short.
    """
    if token_limit <= 0:
        raise ValueError("token_limit must be positive")
    roles = {message.get("role") for message in messages}
    assistants = [message for message in messages if message.get("role") == "assistant"]
    found: set[str] = set()
    if not roles & {"system", "developer"}:
        found.add(NO_SYSTEM_MESSAGE)
    if "user" not in roles:
        found.add(NO_USER_MESSAGE)
    if not assistants:
        found.add(NO_ASSISTANT_REPLY)
    for message in assistants:
        text = message_text(message)
        if not text.strip() and not _has_tool_call(message):
            found.add(EMPTY_ASSISTANT_REPLY)
        elif DEGENERATE_REPETITION not in found and is_degenerate_repetition(text):
            found.add(DEGENERATE_REPETITION)
    if assistants:
        final = assistants[-1]
        final_text = message_text(final).strip()
        if final_text and not _has_tool_call(final) and word_count(final_text) < SHORT_REPLY_WORDS:
            found.add(SHORT_ASSISTANT_REPLY)
    if token_count > token_limit:
        found.add(OVER_TOKEN_LIMIT)
    return [flag for flag in SIGNAL_FLAGS if flag in found]


# -- Quality score ----------------------------------------------------------------------
# A heuristic for sorting the review queue, not a verdict. A raw score starts at 1.0, loses
# a penalty per warning flag (sized by how much the problem usually costs a fine-tune) and
# up to ASSISTANT_SHARE_PENALTY when assistant tokens are a small share of the conversation
# (the model only learns from those; a short answer to a long document is normal, so the
# penalty is mild), and is clamped to [0, 1]. Without blocking flags the score maps the raw
# score onto [BLOCKING_CAP, 1]; with k blocking flags it is BLOCKING_CAP * raw / 2**k, at
# most half the cap. So every blocked example sorts below every unblocked one, adding any
# flag never raises the score, and more assistant tokens never lower it.
WARNING_PENALTIES: Final[Mapping[str, float]] = {
    NO_SYSTEM_MESSAGE: 0.1,
    NO_USER_MESSAGE: 0.25,
    SHORT_ASSISTANT_REPLY: 0.2,
    NEAR_DUPLICATE: 0.3,
}
UNKNOWN_FLAG_PENALTY: Final = 0.1
BLOCKING_CAP: Final = 0.2
ASSISTANT_SHARE_PENALTY: Final = 0.2
ASSISTANT_SHARE_TARGET: Final = 0.1


def quality_score(flags: Iterable[str], *, token_count: int, assistant_tokens: int) -> float:
    """A score in [0, 1] (4 decimals) from the flags and token counts; see the notes above."""
    if token_count < 0 or assistant_tokens < 0:
        raise ValueError("token counts cannot be negative")
    unique = set(flags)
    raw = 1.0
    for flag in unique - BLOCKING_FLAGS:
        raw -= WARNING_PENALTIES.get(flag, UNKNOWN_FLAG_PENALTY)
    share = min(1.0, assistant_tokens / token_count) if token_count else 0.0
    raw -= ASSISTANT_SHARE_PENALTY * max(0.0, 1.0 - share / ASSISTANT_SHARE_TARGET)
    raw = min(1.0, max(0.0, raw))
    blocking = len(unique & BLOCKING_FLAGS)
    if blocking:
        return round(BLOCKING_CAP * raw / 2**blocking, 4)
    return round(BLOCKING_CAP + (1.0 - BLOCKING_CAP) * raw, 4)


# -- Near-duplicates --------------------------------------------------------------------
SHINGLE_WORDS: Final = 5
DEFAULT_NUM_PERM: Final = 64
NEAR_DUPLICATE_THRESHOLD: Final = 0.85
# Fixed so signatures stored in the database stay comparable across processes and releases.
MINHASH_SEED: Final = 1
# Chance that a pair exactly at the threshold shares no band and is never compared.
_MAX_BAND_MISS: Final = 0.01
# Buckets up to this size are expanded into pairs; bigger ones are searched breadth-first.
_PAIR_BUCKET_LIMIT: Final = 32
_VERIFY_CHUNK: Final = 65536
_EMPTY_HASH: Final = 0xFFFFFFFF


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
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if not words:
        return set()
    if len(words) <= size:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


@lru_cache(maxsize=8)
def _template(num_perm: int) -> MinHash:
    from datasketch import MinHash

    # Building the permutations draws num_perm random pairs; share them across signatures.
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
        words = carry + _WORD.findall(unicodedata.normalize("NFKC", piece).casefold())
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


def _as_array(signature: Signature) -> np.ndarray:
    import numpy as np

    if isinstance(signature, bytes | bytearray | memoryview):
        if len(signature) % 4:
            raise ValueError("a signature's length in bytes must be a multiple of 4")
        return np.frombuffer(signature, dtype="<u4").astype(np.uint32)
    values = np.asarray(signature, dtype=np.int64)
    if values.ndim != 1 or (values.size and (values.min() < 0 or values.max() > 0xFFFFFFFF)):
        raise ValueError("a signature is a flat sequence of unsigned 32-bit integers")
    return values.astype(np.uint32)


def signature_jaccard(first: Signature, second: Signature) -> float:
    """Estimated Jaccard similarity: the share of permutations whose minima agree."""
    import numpy as np

    a, b = _as_array(first), _as_array(second)
    if a.shape != b.shape or not a.size:
        raise ValueError("signatures must have the same, non-zero number of permutations")
    return float(np.count_nonzero(a == b)) / a.size


def band_parameters(threshold: float, num_perm: int) -> tuple[int, int]:
    """LSH (bands, rows) for `num_perm` values: the most rows per band (fewest false
    candidates) that still puts a pair at exactly `threshold` in some shared bucket with
    probability at least 99%. Candidates are verified afterwards, so false candidates only
    cost time, while a missed pair is a missed duplicate."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    for rows in range(num_perm // 2, 0, -1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands >= 1.0 - _MAX_BAND_MISS:
            return bands, rows
    return num_perm, 1


class _DisjointSet:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        parent = self.parent
        root = item
        while parent[root] != root:
            root = parent[root]
        while parent[item] != root:
            parent[item], item = root, parent[item]
        return root

    def union(self, first: int, second: int) -> None:
        a, b = self.find(first), self.find(second)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


@lru_cache(maxsize=16)
def _row_multipliers(width: int) -> np.ndarray:
    import numpy as np

    # Random odd multipliers make sum(a_j * x_j) mod 2^64 a cheap universal-style hash of a
    # row; a fixed seed keeps runs reproducible.
    generator = np.random.default_rng(0x5EED)
    return generator.integers(0, 2**63, size=width, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _row_hashes(block: np.ndarray) -> np.ndarray:
    """One uint64 per row. Equal rows hash equally; unequal rows rarely do, and every use
    below either checks rows exactly or only gains a candidate that verification drops."""
    import numpy as np

    multipliers = _row_multipliers(block.shape[1])
    hashes = np.zeros(block.shape[0], dtype=np.uint64)
    # Column by column, so the temporaries stay one column long.
    for column, multiplier in enumerate(multipliers):
        hashes += block[:, column].astype(np.uint64) * multiplier
    return hashes


def _groups(keys: np.ndarray) -> Iterable[np.ndarray]:
    """Index arrays (ascending) of the positions sharing a key, for keys seen twice or more."""
    import numpy as np

    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    boundaries = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [ordered.size]))
    for begin, end in zip(
        starts[ends - starts >= 2].tolist(), ends[ends - starts >= 2].tolist(), strict=True
    ):
        yield order[begin:end]


def _collapse_identical(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, index of each original row among them), first occurrence order."""
    import numpy as np

    representative = np.arange(matrix.shape[0])
    for members in _groups(_row_hashes(matrix)):
        same = (matrix[members] == matrix[members[0]]).all(axis=1)
        representative[members[same]] = members[0]
    keep = representative == np.arange(matrix.shape[0])
    position = np.cumsum(keep) - 1
    return matrix[keep], position[representative]


def _buckets(matrix: np.ndarray, bands: int, rows: int) -> Iterable[np.ndarray]:
    """Row-index arrays of every LSH bucket with two or more members, each distinct set of
    members reported once."""
    seen: set[bytes] = set()
    for band in range(bands):
        for members in _groups(_row_hashes(matrix[:, band * rows : (band + 1) * rows])):
            fingerprint = members.tobytes()
            if fingerprint not in seen:
                seen.add(fingerprint)
                yield members


@lru_cache(maxsize=_PAIR_BUCKET_LIMIT + 1)
def _pair_positions(size: int) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    return np.triu_indices(size, k=1)


def _bucket_search(
    matrix: np.ndarray, members: np.ndarray, needed: int
) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Edges spanning the components of a big bucket, by breadth-first search.

    Expanding every pair would be quadratic, and big buckets are mostly one cluster of
    near-copies (a template). Each visited row is compared once with the rows not yet
    reached, which shrink fast when the bucket is one cluster. No edge is lost: a row left
    unreached by a finished search was compared with every row that search visited.
    """
    import numpy as np

    pending = members
    while pending.size > 1:
        queue = [int(pending[0])]
        pending = pending[1:]
        while queue and pending.size:
            node = queue.pop()
            close = np.count_nonzero(matrix[pending] == matrix[node], axis=1) >= needed
            if close.any():
                hits = pending[close]
                yield np.full(hits.size, node), hits
                queue.extend(hits.tolist())
                pending = pending[~close]


def _verified_edges(
    matrix: np.ndarray, buckets: Iterable[np.ndarray], needed: int
) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(left, right) index arrays of candidate pairs whose signatures agree on at least
    `needed` permutations."""
    import numpy as np

    pair_codes: list[np.ndarray] = []
    size = matrix.shape[0]
    for members in buckets:
        if len(members) <= _PAIR_BUCKET_LIMIT:
            left, right = _pair_positions(len(members))
            pair_codes.append(members[left].astype(np.int64) * size + members[right])
            continue
        yield from _bucket_search(matrix, members, needed)
    if not pair_codes:
        return
    codes = np.unique(np.concatenate(pair_codes))
    for start in range(0, codes.size, _VERIFY_CHUNK):
        chunk = codes[start : start + _VERIFY_CHUNK]
        left, right = chunk // size, chunk % size
        agree = np.count_nonzero(matrix[left] == matrix[right], axis=1)
        keep = agree >= needed
        yield left[keep], right[keep]


def _signature_bytes(signature: Signature) -> bytes | bytearray | memoryview:
    if isinstance(signature, bytes | bytearray | memoryview):
        return signature
    return _as_array(signature).astype("<u4").tobytes()


def cluster_near_duplicates(
    items: Iterable[tuple[int, Signature]], *, threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> list[list[int]]:
    """Groups of ids whose conversations are near-duplicates.

    Two ids are linked when their signatures' estimated Jaccard similarity is at least
    `threshold`; a cluster is a connected component of those links (so A~B and B~C put A
    and C together). Only clusters of two or more are returned, each sorted, ordered by
    their smallest id. Identical signatures are linked directly; the others are found with
    LSH banding (see `band_parameters`) and every candidate pair is verified against the
    signatures, so a shared bucket never links two conversations on its own. Empty-text
    signatures (all 0xFFFFFFFF) are skipped.

    Banding runs over one numpy matrix of the signatures (26 MB for 100k signatures of 64
    values; under a second for 100k mostly distinct ones, about 3 s when 20k of them are
    near-copies of one template) rather than datasketch's MinHashLSH, whose per-key Python
    dictionaries took about 160 MB and 5 s just to fill for 100k; the tests check that both
    find the same clusters.
    """
    import numpy as np

    ids: list[int] = []
    packed = bytearray()
    width: int | None = None
    for item_id, signature in items:
        raw = _signature_bytes(signature)
        if not raw or len(raw) % 4:
            raise ValueError("a signature is a non-empty whole number of uint32 values")
        if width is None:
            width = len(raw) // 4
        elif len(raw) != width * 4:
            raise ValueError("all signatures must have the same number of permutations")
        ids.append(int(item_id))
        packed += raw
    if width is None:
        return []
    if len(set(ids)) != len(ids):
        raise ValueError("ids must be unique")
    matrix = np.frombuffer(packed, dtype="<u4").astype(np.uint32, copy=False).reshape(-1, width)
    present = ~(matrix == _EMPTY_HASH).all(axis=1)
    matrix = matrix[present]
    kept_ids = [item_id for item_id, keep in zip(ids, present.tolist(), strict=True) if keep]
    if len(kept_ids) < 2:
        return []
    distinct, row_of = _collapse_identical(matrix)
    del matrix
    components = _DisjointSet(distinct.shape[0])
    if distinct.shape[0] > 1:
        bands, band_rows = band_parameters(threshold, width)
        needed = math.ceil(threshold * width - 1e-9)
        for left, right in _verified_edges(distinct, _buckets(distinct, bands, band_rows), needed):
            for a, b in zip(left.tolist(), right.tolist(), strict=True):
                components.union(a, b)
    groups: dict[int, list[int]] = {}
    for item_id, row in zip(kept_ids, row_of.tolist(), strict=True):
        groups.setdefault(components.find(row), []).append(item_id)
    clusters = [sorted(group) for group in groups.values() if len(group) > 1]
    clusters.sort(key=lambda cluster: cluster[0])
    return clusters
