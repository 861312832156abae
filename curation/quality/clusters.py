"""Near-duplicate clusters: LSH buckets over MinHash signatures, verified pair by pair."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from curation.quality.minhash import Signature

# numpy is imported inside the functions that use it: drift views reach this package through
# the URL config, which every manage.py command loads for its system checks.
if TYPE_CHECKING:
    import numpy as np

NEAR_DUPLICATE_THRESHOLD: Final = 0.85
# Chance that a pair exactly at the threshold shares no band and is never compared.
_MAX_BAND_MISS: Final = 0.01
# Buckets up to this size are expanded into pairs; bigger ones are searched breadth-first.
_PAIR_BUCKET_LIMIT: Final = 32
_VERIFY_CHUNK: Final = 65536
_EMPTY_HASH: Final = 0xFFFFFFFF


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
    # Random odd multipliers make sum(a_j * x_j) mod 2^64 a cheap universal-style hash of a
    # row; a fixed seed keeps runs reproducible.
    import numpy as np

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
