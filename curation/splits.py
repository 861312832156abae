"""Train/validation splits that never leak.

An example's split is a pure function of (seed, key, fraction), where the key is the
conversation's near-duplicate cluster when it has one and its id otherwise — or, when the
version build finds that its exported text is identical or near-identical to other
examples', the smallest such key of that duplicate group (so duplicates share a split):

    u = int(sha256(f"{seed}:{key}").hexdigest()[:15], 16)      # uniform in [0, 2**60)
    validation  ⇔  u < ceil(fraction * 2**60)

So an example lands in the same split in every version built with the same seed and
fraction (raising the fraction only moves examples from train to validation, never back),
and near-duplicates share a split (a conversation keeps its split unless its cluster
changes: keeping a cluster together wins over keeping a split). The comparison is on integers so that Python (the
build) and PostgreSQL (the preview's counts) agree exactly.
"""

from __future__ import annotations

import hashlib
import math
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import BooleanField, Expression
from django.db.models.expressions import RawSQL

HASH_HEX_DIGITS = 15
HASH_SPACE = 16**HASH_HEX_DIGITS  # 2**60: fits a signed bigint in SQL

TRAIN = "train"
VALIDATION = "validation"

# Messages that a near-duplicate comparison ignores: a shared prompt makes nothing a duplicate.
SYSTEM_ROLES = frozenset({"system", "developer"})
# `<PERSON_1>` and `<PERSON_2>` differ only by the order names appeared in.
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*?)_\d+>")
# Case, spacing and ASCII punctuation are dropped byte-wise (fast: this runs per example).
_FOLD = bytes.maketrans(string.ascii_uppercase.encode(), string.ascii_lowercase.encode())
_DROP = (string.punctuation + string.whitespace).encode()


def validation_threshold(fraction: float) -> int:
    """Hash values below this go to validation."""
    if not 0 <= fraction < 1:
        raise ValueError("the validation fraction must be at least 0 and below 1")
    return math.ceil(fraction * HASH_SPACE)


def split_key(conversation_id: int, near_dup_cluster: int | None) -> int:
    return near_dup_cluster if near_dup_cluster is not None else conversation_id


def split_hash(seed: int, key: int) -> int:
    """The first 15 hex digits of the sha256, i.e. the top 60 bits of its first 8 bytes."""
    digest = hashlib.sha256(b"%d:%d" % (seed, key)).digest()
    return int.from_bytes(digest[:8], "big") >> 4


def split_of(
    conversation_id: int, near_dup_cluster: int | None, *, seed: int, threshold: int
) -> str:
    return split_for_key(
        split_key(conversation_id, near_dup_cluster), seed=seed, threshold=threshold
    )


def split_for_key(key: int, *, seed: int, threshold: int) -> str:
    return VALIDATION if split_hash(seed, key) < threshold else TRAIN


def is_validation_sql(*, seed: int, threshold: int) -> Expression:
    """The same rule as `split_of`, as a boolean SQL expression over a conversation row."""
    sql = (
        "(('x' || substr(encode(sha256(convert_to(%s || "
        "coalesce(near_dup_cluster, id)::text, 'UTF8')), 'hex'), 1, "
        f"{HASH_HEX_DIGITS}))::bit({HASH_HEX_DIGITS * 4})::bigint < %s)"
    )
    params: list[Any] = [f"{seed}:", threshold]
    # Only a constant of this module is formatted in; values are bound.
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611


def _text_of(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    calls = message.get("tool_calls")
    if isinstance(content, str) and not calls:
        return content
    if isinstance(content, list):
        text = " ".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    else:
        text = content if isinstance(content, str) else ""
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                text += f" {function.get('name', '')} {function.get('arguments', '')}"
    return text


def near_duplicate_key(messages: Iterable[Mapping[str, Any]]) -> str:
    """A digest equal for examples that say the same thing: system messages, letter case,
    spacing, punctuation and placeholder numbers are ignored (the build puts examples with the
    same key in one split, so two near-identical examples never sit on both sides)."""
    parts = []
    for message in messages:
        role = message.get("role")
        if role in SYSTEM_ROLES:
            continue
        content = message.get("content")
        # The common plain text message without the call to _text_of (this runs per example).
        if type(content) is not str or message.get("tool_calls"):
            content = _text_of(message)
        parts.append(f"{role}\x00{content}")
    text = "\x01".join(parts)
    if "<" in text:
        text = _PLACEHOLDER.sub(r"<\1>", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).casefold()
    return hashlib.sha256(text.encode().translate(_FOLD, _DROP)).hexdigest()[:32]
