"""Phase 2 of a build: group duplicates across parts, give each group one split, and append
the kept lines of every part, in id order, to their split's file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection

from curation.models import DatasetVersion
from curation.services.versions.export import CHUNK_SIZE, Part
from curation.services.versions.files import HashingWriter
from curation.services.versions.stats import ExampleFigures, Stats, parse_pii
from curation.splits import TRAIN, VALIDATION, split_for_key, validation_threshold


@dataclass
class Group:
    key: int
    duplicate_of: int | None


_TEMP_TABLE = "curator_version_keys"


def duplicate_groups(parts: list[Part]) -> dict[int, Group]:
    """For each example that shares an exported line, a near-duplicate key or a cluster with
    another one: its group's split key and, for a repeated line, the id it is merged into.

    Call inside a transaction (the keys go through a temporary table dropped at commit).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_TEMP_TABLE} (id bigint, split_key bigint, "
            "line_sha text, near_key text) ON COMMIT DROP"
        )
        raw = cursor.cursor
        with raw.copy(f"COPY {_TEMP_TABLE} FROM STDIN") as copy:
            for part in parts:
                with part.keys.open("rb") as handle:
                    while block := handle.read(1024 * 1024):
                        copy.write(block)
        cursor.execute(
            f"SELECT id, split_key, line_sha, near_key FROM {_TEMP_TABLE} "  # noqa: S608
            f"WHERE line_sha IN (SELECT line_sha FROM {_TEMP_TABLE} GROUP BY 1 HAVING count(*) > 1) "
            f"OR near_key IN (SELECT near_key FROM {_TEMP_TABLE} GROUP BY 1 HAVING count(*) > 1) "
            f"OR split_key IN (SELECT split_key FROM {_TEMP_TABLE} GROUP BY 1 HAVING count(*) > 1) "
            "ORDER BY id"
        )
        rows = cursor.fetchall()
        cursor.execute(f"DROP TABLE {_TEMP_TABLE}")
    parent: dict[int, int] = {row[0]: row[0] for row in rows}

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    kept_line: dict[str, int] = {}
    duplicate_of: dict[int, int] = {}
    for column in (1, 2, 3):
        first: dict[Any, int] = {}
        for row in rows:
            value = row[column]
            if value in first:
                a, b = find(row[0]), find(first[value])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[value] = row[0]
        if column == 2:
            kept_line = first
    # Rows are in id order, so the first id seen with a line is the smallest: it is kept.
    for conversation_id, _, line_sha, _ in rows:
        if kept_line[line_sha] != conversation_id:
            duplicate_of[conversation_id] = kept_line[line_sha]
    keys: dict[int, int] = {}
    for conversation_id, key, _, _ in rows:
        root = find(conversation_id)
        keys[root] = min(keys.get(root, key), key)
    return {
        conversation_id: Group(keys[find(conversation_id)], duplicate_of.get(conversation_id))
        for conversation_id, _, _, _ in rows
    }


def assemble(
    *,
    version: DatasetVersion,
    parts: list[Part],
    groups: dict[int, Group],
    writers: dict[str, HashingWriter],
    members: HashingWriter,
    stats: Stats,
) -> Stats:
    """Append the kept lines of every part, in id order, to their split's file; correct the
    parts' figures for the examples merged or moved with their duplicate group."""
    threshold = validation_threshold(version.validation_fraction)
    seed = version.seed
    version_id = b"%d" % version.pk
    for part in parts:
        with part.rows.open("rb") as rows, part.lines.open("rb", buffering=1024 * 1024) as lines:
            batch: dict[bytes, list[bytes]] = {b"train": [], b"validation": []}
            pending = {b"train": 0, b"validation": 0}
            files = {b"train": writers[TRAIN], b"validation": writers[VALIDATION]}
            records: list[bytes] = []
            for row in rows:
                fields = row.split(b"\t", 5)
                raw_id, digest, split, raw_length = fields[0], fields[2], fields[3], fields[4]
                length = int(raw_length)
                line = lines.read(length + 1)
                group = groups.get(int(raw_id)) if groups else None
                if group is not None:
                    (_, _, _, _, _, tokens, assistant, score, prepended, _, pii) = row.rstrip(
                        b"\n"
                    ).split(b"\t")
                    figures: ExampleFigures = {
                        "tokens": int(tokens),
                        "assistant_tokens": int(assistant),
                        "score": None if score == b"-" else float(score),
                        "pii": parse_pii(pii),
                        "prepended": prepended == b"1",
                    }
                    stats.add(split=split.decode(), sign=-1, **figures)
                    split = split_for_key(group.key, seed=seed, threshold=threshold).encode()
                    if group.duplicate_of is not None:
                        stats.merged += 1
                        records.append(
                            b"%s\t%s\t%s\t%s\t%d\t\\N\t\\N\n"
                            % (raw_id, digest, split, version_id, group.duplicate_of)
                        )
                        continue
                    stats.add(split=split.decode(), **figures)
                offset = files[split].size + pending[split]
                batch[split].append(line)
                pending[split] += length + 1
                records.append(
                    b"%s\t%s\t%s\t%s\t\\N\t%d\t%d\n"
                    % (raw_id, digest, split, version_id, offset, length)
                )
                if len(records) >= CHUNK_SIZE:
                    for name, split_lines in batch.items():
                        files[name].write_lines(split_lines)
                        split_lines.clear()
                        pending[name] = 0
                    members.write_lines(records)
                    records = []
            for name, split_lines in batch.items():
                files[name].write_lines(split_lines)
            members.write_lines(records)
    return stats
