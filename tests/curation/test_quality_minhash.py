"""MinHash signatures and near-duplicate clusters (checked against datasketch and brute force)."""

from __future__ import annotations

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
    band_parameters,
    cluster_near_duplicates,
    clusters,
    minhash_signature,
    shingles,
    signature_jaccard,
)


def reply(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


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
