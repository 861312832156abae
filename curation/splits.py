"""Train/validation splits that never leak.

An example's split is a pure function of (seed, key, fraction), where the key is the
conversation's near-duplicate cluster when it has one and its id otherwise:

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
from typing import Any

from django.db.models import BooleanField, Expression
from django.db.models.expressions import RawSQL

HASH_HEX_DIGITS = 15
HASH_SPACE = 16**HASH_HEX_DIGITS  # 2**60: fits a signed bigint in SQL

TRAIN = "train"
VALIDATION = "validation"


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
    key = split_key(conversation_id, near_dup_cluster)
    return VALIDATION if split_hash(seed, key) < threshold else TRAIN


def is_validation_sql(*, seed: int, threshold: int, table: str = "") -> Expression:
    """The same rule as `split_of`, as a boolean SQL expression over a conversation row."""
    prefix = f'"{table}".' if table else ""
    sql = (
        f"(('x' || substr(encode(sha256(convert_to(%s || "
        f"coalesce({prefix}near_dup_cluster, {prefix}id)::text, 'UTF8')), 'hex'), 1, "
        f"{HASH_HEX_DIGITS}))::bit({HASH_HEX_DIGITS * 4})::bigint < %s)"
    )
    params: list[Any] = [f"{seed}:", threshold]
    # Only the column prefix is formatted in (a table name from code); values are bound.
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611
