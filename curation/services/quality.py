"""Quality signals stored on conversations: flags, a 0-1 score, MinHash and duplicate clusters.

The computations live in `curation.quality` (pure functions); this module decides what is
stored where. Import calls both functions once a batch is in; an edit refreshes the one
conversation (its cluster is refreshed by the next dataset-wide clustering).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction

from curation import quality
from curation.models import Conversation, Dataset, QualityRun

logger = logging.getLogger(__name__)

CHUNK = 1000
# Characters of a long conversation the search index covers (a tsvector is at most 1 MB).
SEARCH_TEXT_CHARS = 256 * 1024
# Flags `quality.signals` owns; any other flag on a row (duplicate, near_duplicate, flags a
# later feature adds) is kept as it is when signals are refreshed.
SIGNAL_FLAGS = frozenset(quality.SIGNAL_FLAGS)
CLUSTER_FLAGS = frozenset({quality.NEAR_DUPLICATE, quality.DUPLICATE})


def _row_sizes(ids: list[int]) -> dict[int, int]:
    """Bytes of each row's messages (original and redacted). A value stored compressed is
    measured as text, since compressible rows are exactly those whose stored size says
    nothing; an uncompressed one by its stored size, which costs no decompression."""
    size = (
        "CASE WHEN {c} IS NULL THEN 0 WHEN pg_column_compression({c}) IS NULL "
        "THEN pg_column_size({c}) ELSE octet_length({c}::text) END"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {size.format(c='original')} + {size.format(c='redacted')} "  # noqa: S608
            f"FROM {Conversation._meta.db_table} WHERE id = ANY(%s)",
            [ids],
        )
        return dict(cursor.fetchall())


def _signature_ints(signature: bytes) -> list[int]:
    # numpy loads with the quality job, not with every process that imports this module.
    import numpy as np

    # Stored as bigint[]: the uint32 values do not fit a signed 32-bit integer.
    return np.frombuffer(signature, dtype="<u4").astype(np.int64).tolist()


def merged_flags(old: Sequence[str], signals: Sequence[str]) -> list[str]:
    """The new signal flags in their canonical order, then the row's other flags as they were."""
    return [*signals, *(flag for flag in old if flag not in SIGNAL_FLAGS and flag not in signals)]


def refresh_quality(*, conversation_ids: Iterable[int]) -> int:
    """Recompute flags, quality score and MinHash of these conversations from their current
    messages (reviewers' edits included). Returns how many rows were updated."""
    ids = list(conversation_ids)
    updated = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = []
        for conversation in (
            Conversation.objects.filter(pk__in=chunk)
            .select_related("dataset")
            .prefetch_related("revisions")
            .only(
                "id",
                "original",
                "redacted",
                "originals_purged_at",
                "flags",
                "token_count",
                "assistant_tokens",
                "dataset__token_limit",
                "dataset__id",
            )
        ):
            messages = conversation.messages_for_display()
            found = quality.signals(
                messages,
                token_count=conversation.token_count,
                token_limit=conversation.dataset.token_limit,
            )
            flags = merged_flags(conversation.flags, found)
            score = quality.quality_score(
                flags,
                token_count=conversation.token_count,
                assistant_tokens=conversation.assistant_tokens,
            )
            signature = _signature_ints(quality.minhash_signature(messages))
            rows.append(
                {"id": conversation.pk, "flags": flags, "score": score, "minhash": signature}
            )
        _store_quality(rows)
        updated += len(rows)
    return updated


def _store_quality(rows: list[dict[str, Any]]) -> None:
    # One statement per chunk: bulk_update's CASE per row and field took 3 ms a row.
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Conversation._meta.db_table} AS c SET "  # noqa: S608
            "flags = ARRAY(SELECT jsonb_array_elements_text(v.flags))::varchar[], "
            "quality_score = v.score, "
            "minhash = ARRAY(SELECT jsonb_array_elements_text(v.minhash)::bigint), "
            # Full-text search reads this column; kept here so imports pay for it off the insert path.
            # A tsvector holds at most 1 MB: a long conversation is indexed by its first part
            # (seconds per row otherwise, and an error that would fail the whole job).
            "search_vector = CASE WHEN pg_column_size(c.original) > %s "
            "THEN to_tsvector('english', left(c.original::text, %s)) "
            "ELSE jsonb_to_tsvector('english', c.original, '[\"string\"]') END "
            "FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, flags jsonb, score float8, minhash jsonb) "
            "WHERE c.id = v.id",
            [SEARCH_TEXT_CHARS, SEARCH_TEXT_CHARS, json.dumps(rows)],
        )


def _cluster_rows(dataset: Dataset) -> Iterable[tuple[int, list[int]]]:
    rows = (
        Conversation.objects.filter(dataset=dataset, minhash__isnull=False)
        .values_list("id", "minhash")
        .order_by("id")
    )
    # minhash__isnull=False above: every row has its signature.
    yield from cast(Iterator[tuple[int, list[int]]], rows.iterator(chunk_size=5000))


def cluster_near_duplicates_for_dataset(*, dataset: Dataset) -> dict[str, int]:
    """Group the dataset's conversations into near-duplicate clusters (MinHash, Jaccard ≥ 0.85).

    Each cluster is named by its smallest id. Members get the `near_duplicate` flag; members
    whose text is identical to an earlier member's (ignoring system prompts, case and spacing)
    also get the blocking `duplicate` flag, so only the first copy passes. Rows that left a
    cluster lose both flags. Returns {"clusters": N, "clustered": N, "duplicates": N}.
    """
    clusters = quality.cluster_near_duplicates(_cluster_rows(dataset))
    cluster_of: dict[int, int] = {}
    for members in clusters:
        for member in members:
            cluster_of[member] = members[0]
    duplicates = _exact_duplicates(clusters)
    ids = list(cluster_of)
    with transaction.atomic(), connection.cursor() as cursor:
        table = Conversation._meta.db_table
        # Clear first, then set: one statement each way, whatever the dataset's size.
        cursor.execute(
            f"UPDATE {table} SET near_dup_cluster = NULL, "  # noqa: S608
            "flags = array_remove(array_remove(flags, %s), %s) "
            "WHERE dataset_id = %s AND (near_dup_cluster IS NOT NULL OR flags && %s::varchar[]) "
            "AND NOT (id = ANY(%s)) RETURNING id",
            [quality.NEAR_DUPLICATE, quality.DUPLICATE, dataset.pk, list(CLUSTER_FLAGS), ids],
        )
        left = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"UPDATE {table} AS c SET near_dup_cluster = v.cluster, "  # noqa: S608
            "flags = array_remove(array_remove(c.flags, %s), %s) || ARRAY[%s]::varchar[] "
            "|| CASE WHEN v.duplicate THEN ARRAY[%s]::varchar[] ELSE ARRAY[]::varchar[] END "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::boolean[]) AS v(id, cluster, duplicate) "
            "WHERE c.id = v.id AND c.dataset_id = %s",
            [
                quality.NEAR_DUPLICATE,
                quality.DUPLICATE,
                quality.NEAR_DUPLICATE,
                quality.DUPLICATE,
                ids,
                [cluster_of[i] for i in ids],
                [i in duplicates for i in ids],
                dataset.pk,
            ],
        )
    _rescore([*ids, *left])
    return {"clusters": len(clusters), "clustered": len(ids), "duplicates": len(duplicates)}


def _exact_duplicates(clusters: list[list[int]]) -> set[int]:
    """Ids whose comparable text equals an earlier id's in the same cluster.

    Identical text has identical MinHash signatures, so exact copies are always in one
    cluster; only clustered rows need their text read, in byte-bounded chunks, and only a
    digest of each text is kept."""
    members = [member for group in clusters for member in group]
    digests: dict[int, bytes] = {}
    for chunk in byte_bounded_chunks(members):
        for conversation in (
            Conversation.objects.filter(pk__in=chunk)
            .prefetch_related("revisions")
            .only("id", "original", "redacted")
        ):
            text = _normalised(conversation.messages_for_display())
            digests[conversation.pk] = hashlib.sha256(text.encode()).digest()
    duplicates: set[int] = set()
    for group in clusters:
        seen: set[bytes] = set()
        for member in group:
            digest = digests.get(member)
            if digest is None:
                continue
            if digest in seen:
                duplicates.add(member)
            seen.add(digest)
    return duplicates


def byte_bounded_chunks(ids: Sequence[int], *, most: int = CHUNK) -> Iterator[list[int]]:
    """`ids` (in order) in chunks of at most `most` rows whose messages hold about
    CURATOR_IMPORT_CHUNK_BYTES, the bound imports keep, so that a follow-up job over
    megabyte-long conversations needs no more memory than the import did."""
    budget = settings.CURATOR_IMPORT_CHUNK_BYTES
    chunk: list[int] = []
    held = 0
    for start in range(0, len(ids), 10 * most):
        window = list(ids[start : start + 10 * most])
        sizes = _row_sizes(window)
        for pk in window:
            chunk.append(pk)
            held += sizes.get(pk, 0)
            if len(chunk) >= most or held >= budget:
                yield chunk
                chunk, held = [], 0
    if chunk:
        yield chunk


def _normalised(messages: list[dict[str, Any]]) -> str:
    return " ".join(quality.dedup_text(messages).casefold().split())


def _rescore(ids: list[int]) -> None:
    """Quality scores follow the cluster flags: recompute them for rows in or just out of a
    cluster, writing only those that changed."""
    for start in range(0, len(ids), CHUNK):
        stale = []
        for conversation in Conversation.objects.filter(pk__in=ids[start : start + CHUNK]).only(
            "id", "flags", "token_count", "assistant_tokens", "quality_score"
        ):
            score = quality.quality_score(
                conversation.flags,
                token_count=conversation.token_count,
                assistant_tokens=conversation.assistant_tokens,
            )
            if score != conversation.quality_score:
                conversation.quality_score = score
                stale.append(conversation)
        Conversation.objects.bulk_update(stale, ["quality_score"], batch_size=CHUNK)


def run_quality_job(*, run_id: int) -> QualityRun | None:
    """Quality signals, search vectors and near-duplicate clusters after an import."""
    run = QualityRun.objects.select_related("dataset").get(pk=run_id)

    def analyze() -> QualityRun:
        conversations = Conversation.objects.filter(dataset_id=run.dataset_id)
        if run.batch_id is not None:
            conversations = conversations.filter(batch_id=run.batch_id)
        ids = list(conversations.order_by("id").values_list("id", flat=True))
        run.beat(total=len(ids) + 1)
        done = 0
        for chunk in byte_bounded_chunks(ids):
            refresh_quality(conversation_ids=chunk)
            done += len(chunk)
            run.beat(done=done)
        clusters = cluster_near_duplicates_for_dataset(dataset=run.dataset)
        run.succeed(done=len(ids) + 1, clusters=clusters.get("clusters", 0))
        return run

    return run.run_claimed(
        analyze,
        unexpected=lambda error: (
            f"quality analysis failed: {type(error).__name__}: {error}; Retry runs it again"
        ),
    )
