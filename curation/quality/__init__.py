"""Quality signals for one conversation, and near-duplicate clusters across many.

Everything here is pure Python over OpenAI chat messages (dicts with `role`, `content` as a
string, None or a list of parts, `tool_calls`, ...): no database access, so callers decide
when to compute and where to store the results.

Near-duplicates use MinHash over word shingles. A signature is `num_perm` unsigned 32-bit
values packed little-endian into `bytes` (256 bytes at the default 64 permutations), which
fits a `BinaryField`; `cluster_near_duplicates` also accepts the same values as a list of
ints (store those as bigint: they exceed a signed 32-bit integer).

The package's modules: `conversation` (per-conversation flags and loop detection), `scoring` (the
review-queue score), `minhash` (signatures) and `clusters` (near-duplicate groups).
"""

from curation.flags import (
    BLOCKING_FLAGS,
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
from curation.quality.clusters import (
    NEAR_DUPLICATE_THRESHOLD,
    band_parameters,
    cluster_near_duplicates,
    signature_jaccard,
)
from curation.quality.conversation import (
    LOOP_WINDOW_CHARS,
    SHORT_REPLY_WORDS,
    SIGNAL_FLAGS,
    assistant_text,
    compression_ratio,
    is_degenerate_repetition,
    longest_loop,
    signals,
    word_count,
)
from curation.quality.minhash import (
    DEFAULT_NUM_PERM,
    MINHASH_SEED,
    SHINGLE_BATCH,
    SHINGLE_WORDS,
    Signature,
    dedup_text,
    minhash_signature,
    shingles,
)
from curation.quality.scoring import BLOCKING_CAP, WARNING_PENALTIES, quality_score

__all__ = [
    "BLOCKING_CAP",
    "BLOCKING_FLAGS",
    "DEFAULT_NUM_PERM",
    "DEGENERATE_REPETITION",
    "DUPLICATE",
    "EMPTY_ASSISTANT_REPLY",
    "LOOP_WINDOW_CHARS",
    "MINHASH_SEED",
    "NEAR_DUPLICATE",
    "NEAR_DUPLICATE_THRESHOLD",
    "NO_ASSISTANT_REPLY",
    "NO_SYSTEM_MESSAGE",
    "NO_USER_MESSAGE",
    "OVER_TOKEN_LIMIT",
    "SHINGLE_BATCH",
    "SHINGLE_WORDS",
    "SHORT_ASSISTANT_REPLY",
    "SHORT_REPLY_WORDS",
    "SIGNAL_FLAGS",
    "WARNING_PENALTIES",
    "Signature",
    "assistant_text",
    "band_parameters",
    "cluster_near_duplicates",
    "compression_ratio",
    "dedup_text",
    "is_degenerate_repetition",
    "longest_loop",
    "minhash_signature",
    "quality_score",
    "shingles",
    "signals",
    "signature_jaccard",
    "word_count",
]
