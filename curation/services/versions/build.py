"""Building a version: pick the approved examples, export them, merge duplicates, split, freeze.

The build has two phases, both streaming (nothing per example is kept in memory beyond the
duplicate groups, which only hold examples that have a duplicate):

1. Export. The selected conversations are cut into contiguous id ranges; each range is read
   in keyset pages of CHUNK_SIZE rows, each example goes through `redacted_messages` — the
   one function that decides what may leave the system — and its exported line is written to
   the range's part file, with a row of facts (id, split key, the line's sha256, its
   near-duplicate key, length, tokens…) in a second file. Ranges run in parallel processes
   (CURATOR_BUILD_PROCESSES) when the version is large (CURATOR_BUILD_PARALLEL_MIN); the output does not depend on how
   many (a serial build writes the same bytes).
2. Assemble. The rows' keys go to a temporary table; the few examples that share an exported
   line, a near-duplicate key or a near-duplicate cluster are grouped. Of identical lines the
   smallest conversation id is kept and the others are recorded as merged; every member of a
   group gets the group's split. The part files are then read in id order and each kept line
   is appended to train.jsonl or validation.jsonl while their sha256 are computed.

Only the finished files are saved to the storage, under names fixed by the version, so a
retry after a killed worker overwrites what the first attempt left and duplicates nothing. The
example list goes to the database in one COPY in the same transaction that marks the version
built, so a version is either built with all its members or not at all.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import multiprocessing
import os
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import (
    Case,
    F,
    JSONField,
    Prefetch,
    QuerySet,
    When,
    prefetch_related_objects,
)
from django.db.models.base import ModelState
from django.utils import timezone

from curation.models import (
    Conversation,
    ConversationRevision,
    Dataset,
    DatasetVersion,
    FindingDecision,
    PiiFinding,
    PreferencePair,
    VersionExample,
    VersionFormat,
)
from curation.pii.redaction import RedactionError, redact_messages
from curation.services.pii.redaction import redacted_messages
from curation.services.versions.files import (
    HashingWriter,
    SnapshotError,
    clear_storage,
    save_file,
)
from curation.services.versions.manifest import reviewers, write_manifest
from curation.services.versions.preference import (
    attach_pairs,
    chosen_conversation,
    preference_example,
)
from curation.services.versions.preview import select_examples
from curation.splits import (
    SYSTEM_ROLES,
    TRAIN,
    VALIDATION,
    near_duplicate_key,
    split_for_key,
    split_key,
    validation_threshold,
)

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
# Token histogram bucket edges (an example falls in the last edge ≤ its count).
TOKEN_BUCKETS = (0, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
SCORE_BUCKETS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)
LAST_ID = 2**63 - 1

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def dump_line(example: dict[str, Any]) -> bytes:
    """One example as compact UTF-8 JSON: the same example always gives the same bytes.

    orjson is some 20 times faster than the standard library here. It refuses integers beyond
    64 bits; the standard library then writes that example, exactly and in the same compact
    form (only a float could be spelled differently, and an example always takes the same path).
    """
    try:
        return orjson.dumps(example)
    except orjson.JSONEncodeError:
        return _encode(example).encode()


@dataclass
class Stats:
    examples: int = 0
    train: int = 0
    validation: int = 0
    total_tokens: int = 0
    assistant_tokens: int = 0
    train_tokens: int = 0
    validation_tokens: int = 0
    max_tokens: int = 0
    prepended: int = 0
    purged: int = 0
    merged: int = 0
    unscored: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(TOKEN_BUCKETS))
    scores: list[int] = field(default_factory=lambda: [0] * len(SCORE_BUCKETS))
    # entity type -> [redactions, examples]; bounded by the number of entity types.
    pii: dict[str, list[int]] = field(default_factory=dict)

    def add(
        self,
        *,
        split: str,
        tokens: int,
        assistant_tokens: int,
        score: float | None,
        pii: dict[str, int],
        prepended: bool = False,
        sign: int = 1,
    ) -> None:
        """Count one written example (sign -1: take back one counted before; the maximum
        stays, since a merged duplicate has the same text as the example kept)."""
        if score is None:
            self.unscored += sign
        elif score >= SCORE_BUCKETS[0]:
            self.scores[bisect.bisect_right(SCORE_BUCKETS, score) - 1] += sign
        for entity_type, redactions in pii.items():
            counts = self.pii.setdefault(entity_type, [0, 0])
            counts[0] += sign * redactions
            counts[1] += sign
        self.examples += sign
        self.prepended += sign * prepended
        self.total_tokens += sign * tokens
        self.assistant_tokens += sign * assistant_tokens
        if split == TRAIN:
            self.train += sign
            self.train_tokens += sign * tokens
        else:
            self.validation += sign
            self.validation_tokens += sign * tokens
        if sign > 0:
            self.max_tokens = max(self.max_tokens, tokens)
        self.histogram[bisect.bisect_right(TOKEN_BUCKETS, tokens) - 1] += sign

    def merge(self, other: Stats) -> None:
        for name in (
            "examples",
            "train",
            "validation",
            "total_tokens",
            "assistant_tokens",
            "train_tokens",
            "validation_tokens",
            "prepended",
            "purged",
            "merged",
            "unscored",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_tokens = max(self.max_tokens, other.max_tokens)
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]
        self.scores = [a + b for a, b in zip(self.scores, other.scores, strict=True)]
        for entity_type, (redactions, examples) in other.pii.items():
            counts = self.pii.setdefault(entity_type, [0, 0])
            counts[0] += redactions
            counts[1] += examples
        self.pii = {name: counts for name, counts in self.pii.items() if counts[1] > 0}

    def datasheet(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens(),
            "scores": {
                "histogram": [
                    {"from": low, "examples": count}
                    for low, count in zip(SCORE_BUCKETS, self.scores, strict=True)
                ],
                "unscored": self.unscored,
            },
            "pii": [
                {"entity_type": entity_type, "redactions": redactions, "conversations": examples}
                for entity_type, (redactions, examples) in sorted(
                    self.pii.items(), key=lambda item: (-item[1][0], item[0])
                )
                if examples > 0
            ],
            "system_prompt_prepended": self.prepended,
            "originals_purged": self.purged,
            "duplicates_merged": self.merged,
        }

    def tokens(self) -> dict[str, Any]:
        return {
            "total": self.total_tokens,
            "assistant": self.assistant_tokens,
            "train": self.train_tokens,
            "validation": self.validation_tokens,
            "max_per_example": self.max_tokens,
            "mean_per_example": round(self.total_tokens / self.examples, 1) if self.examples else 0,
            "histogram": [
                {"from": low, "to": high - 1 if high else None, "examples": count}
                for low, high, count in zip(
                    TOKEN_BUCKETS, [*TOKEN_BUCKETS[1:], None], self.histogram, strict=True
                )
            ],
        }


# -- phase 1: export id ranges ----------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One id range of the selection and the files its export writes."""

    index: int
    first_id: int
    last_id: int
    folder: str

    @property
    def lines(self) -> Path:
        return Path(self.folder) / f"part-{self.index:04d}.jsonl"

    @property
    def rows(self) -> Path:
        return Path(self.folder) / f"part-{self.index:04d}.rows"

    @property
    def keys(self) -> Path:
        return Path(self.folder) / f"part-{self.index:04d}.keys"


def _pii_counts(findings: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.entity_type] = counts.get(finding.entity_type, 0) + 1
    return counts


def _pii_field(counts: dict[str, int]) -> bytes:
    if not counts:
        return b"-"
    return ",".join(f"{name}:{count}" for name, count in sorted(counts.items())).encode()


def _parse_pii(field: bytes) -> dict[str, int]:
    if field == b"-":
        return {}
    return {
        name.decode(): int(count)
        for name, count in (item.split(b":") for item in field.split(b","))
    }


def export_part(*, version_id: int, part: Part) -> Stats:
    """Export the selected examples of one id range to the part's files; their figures as if
    every one were kept in its own split (the assembly corrects the few that are not).

    Runs in the build's process or in a forked one: it reads everything it needs by id.
    """
    version = DatasetVersion.objects.get(pk=version_id)
    dataset = Dataset.objects.get(pk=version.dataset_id)
    conversations = select_examples(
        dataset=dataset, filter=version.filter, format=version.format
    ).filter(id__gte=part.first_id, id__lte=part.last_id)
    preference = version.format == VersionFormat.PREFERENCE
    prompt = version.system_prompt if version.prepend_system_prompt else ""
    prompt_message = {"role": "system", "content": prompt}
    prompt_tokens = version.system_prompt_tokens
    # Near-duplicates are judged on tags, whatever the operator: two fake names differ.
    tagged = dataset.pii_operator != "tag"
    # The split by the example's own key, here in the parallel part; the assembly changes it
    # only for the few examples whose duplicate group has a smaller key.
    seed, threshold = version.seed, validation_threshold(version.validation_fraction)
    split_bytes = {TRAIN: b"train", VALIDATION: b"validation"}
    sha256 = hashlib.sha256
    stats = Stats()
    with (
        part.lines.open("wb", buffering=1024 * 1024) as lines_file,
        part.rows.open("wb", buffering=256 * 1024) as rows_file,
        part.keys.open("wb", buffering=256 * 1024) as keys_file,
    ):
        for chunk in _chunks(conversations, dataset):
            lines: list[bytes] = []
            rows: list[bytes] = []
            keys: list[bytes] = []
            for conversation in chunk:
                findings = conversation.redact_findings
                purged = conversation.originals_purged_at is not None
                if preference:
                    try:
                        example, near_key, prepended_pair = preference_example(
                            conversation, findings=findings, system_prompt=prompt, tagged=tagged
                        )
                    except RedactionError as error:
                        raise SnapshotError(
                            f"conversation {conversation.id} cannot be redacted: {error}"
                        ) from None
                    prepended = int(prepended_pair)
                    tokens = conversation.token_count + (prompt_tokens if prepended else 0)
                else:
                    try:
                        if type(conversation) is Row:
                            # What redacted_messages returns for it, without its per-row work.
                            messages = conversation.original
                        else:
                            messages = redacted_messages(conversation, findings=findings)
                        grouped = messages
                        if tagged and findings and not purged:
                            grouped = redact_messages(
                                conversation.current_messages(),
                                findings,
                                operator="tag",
                                seed=conversation.pk,
                            )
                        # A pair that prefers the alternative reply exports that reply (rows
                        # with a pair are always model instances, see _chunks).
                        chosen = (
                            None
                            if type(conversation) is Row
                            else chosen_conversation(conversation, findings=findings, tagged=tagged)
                        )
                        if chosen is not None:
                            messages, grouped = chosen
                    except RedactionError as error:
                        # Fail closed: an example whose findings do not fit is never written.
                        raise SnapshotError(
                            f"conversation {conversation.id} cannot be redacted: {error}"
                        ) from None
                    tokens = conversation.token_count
                    prepended = 0
                    if prompt and not any(
                        message.get("role") in SYSTEM_ROLES for message in messages
                    ):
                        messages = [prompt_message, *messages]
                        tokens += prompt_tokens
                        prepended = 1
                    example: dict[str, Any] = {"messages": messages}
                    if conversation.tools is not None:
                        example["tools"] = conversation.tools
                    if conversation.parallel_tool_calls is not None:
                        example["parallel_tool_calls"] = conversation.parallel_tool_calls
                line = dump_line(example)
                digest = sha256(line).hexdigest().encode()
                near = (near_key if preference else near_duplicate_key(grouped)).encode()
                key = split_key(conversation.id, conversation.near_dup_cluster)
                score = conversation.score_avg
                split = split_for_key(key, seed=seed, threshold=threshold)
                pii = _pii_counts(findings)
                stats.purged += purged
                stats.add(
                    split=split,
                    tokens=tokens,
                    assistant_tokens=conversation.assistant_tokens,
                    score=score,
                    pii=pii,
                    prepended=bool(prepended),
                )
                lines.append(line + b"\n")
                keys.append(b"%d\t%d\t%s\t%s\n" % (conversation.id, key, digest, near))
                rows.append(
                    b"%d\t%d\t%s\t%s\t%d\t%d\t%d\t%s\t%d\t%d\t%s\n"
                    % (
                        conversation.id,
                        key,
                        digest,
                        split_bytes[split],
                        len(line),
                        tokens,
                        conversation.assistant_tokens,
                        repr(score).encode() if score is not None else b"-",
                        prepended,
                        purged,
                        _pii_field(pii),
                    )
                )
            lines_file.write(b"".join(lines))
            rows_file.write(b"".join(rows))
            keys_file.write(b"".join(keys))
            DatasetVersion.objects.filter(pk=version_id).update(
                done=F("done") + len(chunk), heartbeat_at=timezone.now()
            )
    return stats


_ROW_FIELDS = (
    "id",
    "original",
    "tools",
    "parallel_tool_calls",
    "originals_purged_at",
    "token_count",
    "assistant_tokens",
    "near_dup_cluster",
    "score_avg",
    "purged_redacted",
)


class Row:
    """A selected conversation that leaves as stored (no finding, no edit, not purged)."""

    __slots__ = (
        "assistant_tokens",
        "id",
        "near_dup_cluster",
        "original",
        "parallel_tool_calls",
        "score_avg",
        "token_count",
        "tools",
    )
    originals_purged_at = None
    redact_findings: tuple[()] = ()

    def __init__(
        self,
        pk: int,
        original: list[dict[str, Any]],
        tools: Any,
        parallel: bool | None,
        tokens: int,
        assistant: int,
        cluster: int | None,
        score: float | None,
    ) -> None:
        self.id, self.original, self.tools, self.parallel_tool_calls = pk, original, tools, parallel
        self.token_count, self.assistant_tokens = tokens, assistant
        self.near_dup_cluster, self.score_avg = cluster, score


class Chunk(list):
    """A page of conversations (model instances where redaction must run, `Row`s elsewhere)
    and the ids among them that reviewers edited."""

    def __init__(self, conversations: list[Conversation], edited: set[int]) -> None:
        super().__init__(conversations)
        self.edited = edited


# Digits to "1", everything else to "0": a 20-digit run shows as twenty 1s (a byte-wise
# translation is ten times faster than a regular expression here).
_DIGITS = bytes(49 if 48 <= byte <= 57 else 48 for byte in range(256))
_TWENTY_DIGITS = b"1" * 20


def _loads(text: str) -> Any:
    """orjson's parser, except for text with a 20-digit run: orjson reads integers beyond 64
    bits as floats, and an export must not change a number (the standard library is exact)."""
    if _TWENTY_DIGITS in text.encode().translate(_DIGITS):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _chunks(conversations: QuerySet[Conversation], dataset: Dataset) -> Iterator[Chunk]:
    """Keyset pages of CHUNK_SIZE conversations by id, each with its findings and revisions.

    Three things here are for speed; each was measured on the 100k benchmark:

    - Not `.iterator()`: outside a transaction Django declares its server-side cursor WITH
      HOLD, and PostgreSQL materializes the whole result before the first row (and a
      transaction around the build would hide its progress). A page is one indexed query on
      (dataset, status, id).
    - Rows are read as values and become Conversation instances the way `Model.from_db`
      makes them, minus its per-field loop over all ~30 fields: only the fields read here are
      set, the others stay deferred (reading one would load it, as with `.only()`). The JSON
      columns come as text (Django's psycopg setup) and are parsed here.
    - Not `prefetch_related`: it builds a related manager per row, which cost more than the
      rest of the row's work. A page's `redact` findings are one query, grouped by hand and
      handed to `redacted_messages`; rows without revisions get Django's prefetch cache set to
      one shared empty result, so `current_messages()` reads no revisions without a query.
    """
    page = (
        conversations.order_by("id")
        # The stored redacted copy is only needed (and only read) once the original is purged.
        .annotate(
            purged_redacted=Case(
                When(originals_purged_at__isnull=False, then=F("redacted")),
                default=None,
                output_field=JSONField(),
            )
        )
        .values_list(*_ROW_FIELDS)
    )
    ordered_revisions = ConversationRevision.objects.order_by("message_index", "id")
    no_revisions = ConversationRevision.objects.none()
    list(no_revisions)  # evaluated once (no query): every unedited row shares it
    loads = _loads
    db = connection.alias
    last_id = 0
    while True:
        sql, params = page.filter(id__gt=last_id)[:CHUNK_SIZE].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return
        # The page's ids as a subquery (same filter, id range of the page): a list of 2000
        # bound ids costs PostgreSQL more to plan than the query costs to run.
        in_page = conversations.filter(id__gt=last_id, id__lte=rows[-1][0]).values("id")
        # Whole rows (no .only()): a deferred field read by the redaction would cost a query
        # per finding.
        findings: dict[int, list[PiiFinding]] = {}
        for finding in PiiFinding.objects.filter(
            conversation_id__in=in_page, decision=FindingDecision.REDACT
        ):
            findings.setdefault(finding.conversation_id, []).append(finding)
        edited = set(
            ConversationRevision.objects.filter(conversation_id__in=in_page)
            .values_list("conversation_id", flat=True)
            .distinct()
        )
        # Conversations with a preference pair export through the pair (model instances).
        paired = set(
            PreferencePair.objects.filter(conversation_id__in=in_page).values_list(
                "conversation_id", flat=True
            )
        )
        chunk: list[Any] = []
        needs_model = []
        for (
            pk,
            original,
            tools,
            parallel,
            purged_at,
            tokens,
            assistant,
            cluster,
            score,
            stored,
        ) in rows:
            if purged_at is None and pk not in findings and pk not in edited and pk not in paired:
                # Exported as stored: a plain row, no model instance needed.
                chunk.append(
                    Row(
                        pk,
                        loads(original),
                        loads(tools) if tools is not None else None,
                        parallel,
                        tokens,
                        assistant,
                        cluster,
                        score,
                    )
                )
                continue
            conversation = Conversation.__new__(Conversation)
            state = ModelState()
            state.adding, state.db, state.fields_cache = False, db, {"dataset": dataset}
            conversation.__dict__.update(
                _state=state,
                id=pk,
                dataset_id=dataset.pk,
                original=loads(original),
                tools=loads(tools) if tools is not None else None,
                parallel_tool_calls=parallel,
                originals_purged_at=purged_at,
                redacted=loads(stored) if stored is not None else None,
                token_count=tokens,
                assistant_tokens=assistant,
                near_dup_cluster=cluster,
                score_avg=score,
                redact_findings=findings.get(pk, []),
            )
            if pk not in edited:
                conversation._prefetched_objects_cache = {"revisions": no_revisions}
            chunk.append(conversation)
            needs_model.append(conversation)
        if edited:
            prefetch_related_objects(
                [conversation for conversation in needs_model if conversation.id in edited],
                Prefetch("revisions", queryset=ordered_revisions),
            )
        attach_pairs(needs_model, in_page)
        yield Chunk(chunk, edited)
        last_id = rows[-1][0]


def build_processes() -> int:
    configured = int(getattr(settings, "CURATOR_BUILD_PROCESSES", 0) or 0)
    return configured if configured > 0 else min(os.cpu_count() or 1, 8)


def plan_parts(
    conversations: QuerySet[Conversation], *, total: int, processes: int, folder: str
) -> list[Part]:
    """Contiguous id ranges of about equal size, one per process (one when serial)."""
    count = min(processes, math.ceil(total / CHUNK_SIZE))
    if count <= 1:
        return [Part(0, 0, LAST_ID, folder)]
    selected, params = conversations.values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT min(id), max(id) FROM (SELECT id, ntile(%s) OVER (ORDER BY id) AS tile "  # noqa: S608
            f"FROM ({selected}) AS selected) AS tiles GROUP BY tile ORDER BY 1",
            [count, *params],
        )
        bounds = cursor.fetchall()
    parts = [Part(index, first, last, folder) for index, (first, last) in enumerate(bounds)]
    # The ranges cover every id, so rows approved meanwhile fall in some part or in none.
    return [
        Part(
            part.index,
            0 if part.index == 0 else part.first_id,
            LAST_ID if part.index == len(parts) - 1 else parts[part.index + 1].first_id - 1,
            folder,
        )
        for part in parts
    ]


def _export_in_child(version_id: int, part: Part) -> Stats:
    return export_part(version_id=version_id, part=part)


def _child_start() -> None:
    # The build may run inside an RQ work horse, whose signal handlers a child must not run.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def export_parts(*, version_id: int, parts: list[Part]) -> Stats:
    """Export every part, in forked processes when there are several; their figures."""
    if len(parts) == 1:
        return export_part(version_id=version_id, part=parts[0])
    # Each child opens its own database connection; none may inherit the parent's.
    connections.close_all()
    pool = multiprocessing.get_context("fork").Pool(len(parts), initializer=_child_start)
    try:
        results = pool.starmap(_export_in_child, [(version_id, part) for part in parts])
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    stats = Stats()
    for result in results:
        stats.merge(result)
    return stats


# -- phase 2: group, split, assemble ------------------------------------------------------------


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
                    figures = {
                        "tokens": int(tokens),
                        "assistant_tokens": int(assistant),
                        "score": None if score == b"-" else float(score),
                        "pii": _parse_pii(pii),
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


# -- the build ----------------------------------------------------------------------------------


def build_version(*, version: DatasetVersion, processes: int | None = None) -> DatasetVersion:
    """Build the files of a claimed version and mark it built; safe to run again.

    `processes` caps the export's processes (default CURATOR_BUILD_PROCESSES); the files are
    the same bytes whatever it is.
    """
    dataset = Dataset.objects.get(pk=version.dataset_id)
    version.dataset = dataset
    clear_storage(version, ("train.jsonl", "validation.jsonl", "manifest.json"))
    conversations = select_examples(dataset=dataset, filter=version.filter, format=version.format)
    total = conversations.count()
    version.beat(total=total, done=0)
    if processes is None:
        processes = build_processes()
    if total < settings.CURATOR_BUILD_PARALLEL_MIN or connection.in_atomic_block:
        # Forked processes could not see rows of a transaction that is not committed yet.
        processes = 1
    with tempfile.TemporaryDirectory(
        prefix="curator-snapshot-", dir=settings.FILE_UPLOAD_TEMP_DIR
    ) as folder:
        work = Path(folder)
        parts = plan_parts(conversations, total=total, processes=processes, folder=folder)
        exported = export_parts(version_id=version.pk, parts=parts)
        writers = {
            TRAIN: HashingWriter(work / "train.jsonl"),
            VALIDATION: HashingWriter(work / "validation.jsonl"),
        }
        members = HashingWriter(work / "members.tsv")
        with transaction.atomic():
            groups = duplicate_groups(parts)
            stats = assemble(
                version=version,
                parts=parts,
                groups=groups,
                writers=writers,
                members=members,
                stats=exported,
            )
            for part in parts:
                part.lines.unlink()
            if stats.examples == 0:
                raise SnapshotError("no approved example matches the filter any more")
            files: dict[str, dict[str, Any]] = {}
            for split, writer in writers.items():
                files[f"{split}.jsonl"] = {**writer.close(), "examples": writer.lines}
            members.close()
            parent = (
                DatasetVersion.objects.filter(dataset=dataset, number__lt=version.number)
                .built()
                .order_by("-number")
                .first()
            )
            pii_settings = {
                "entities": list(dataset.pii_entities),
                "threshold": dataset.pii_threshold,
                "operator": dataset.pii_operator,
                "allow_list": list(dataset.pii_allow_list),
                "deny_list": list(dataset.pii_deny_list),
                "patterns": dataset.pii_patterns or [],
                "purge_originals_after_approval": dataset.purge_originals_after_approval,
            }
            copy_members(version, members.path)
            datasheet = {**stats.datasheet(), "reviewers": reviewers(version)}
            manifest = write_manifest(
                version=version,
                dataset=dataset,
                parent=parent,
                counts={
                    "examples": stats.examples,
                    "train": stats.train,
                    "validation": stats.validation,
                    "duplicates_merged": stats.merged,
                },
                tokens=stats.tokens(),
                prepended=stats.prepended,
                files=files,
                pii_settings=pii_settings,
                datasheet=datasheet,
                members=members.path,
                path=work / "manifest.json",
            )
            files["manifest.json"] = manifest
            for name in ("train.jsonl", "validation.jsonl", "manifest.json"):
                files[name]["name"] = save_file(version, name, work / name)
            version.succeed(
                parent=parent,
                done=total,
                examples=stats.examples,
                duplicates_merged=stats.merged,
                train_examples=stats.train,
                validation_examples=stats.validation,
                total_tokens=stats.total_tokens,
                assistant_tokens=stats.assistant_tokens,
                files=files,
                stats=datasheet,
                pii_settings=pii_settings,
            )
    return version


def copy_members(version: DatasetVersion, path: Path) -> None:
    VersionExample.objects.filter(version=version).delete()
    table = VersionExample._meta.db_table
    with connection.cursor() as cursor, path.open("rb") as handle:
        raw = cursor.cursor
        with raw.copy(
            f"COPY {table} (conversation_id, content_hash, split, version_id, duplicate_of, "
            "byte_offset, byte_length) FROM STDIN"
        ) as copy:
            # The rows already carry the version id: the file goes over in large blocks.
            while block := handle.read(1024 * 1024):
                copy.write(block)


def run_build_job(*, version_id: int) -> DatasetVersion | None:
    """Claim, build and finish one version; safe to call again for the same version."""
    version = DatasetVersion.objects.select_related("dataset", "created_by").get(pk=version_id)
    if not version.claim():
        logger.info("dataset version %s is %s; nothing to do", version_id, version.status)
        return None
    try:
        build_version(version=version)
    except SnapshotError as error:
        version.fail(f"{version}: {error}")
        return version
    except Exception as error:
        logger.exception("dataset version %s failed", version_id)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        version.fail(
            f"{version}: unexpected error ({type(error).__name__}: {first_line}); "
            "Retry builds it again from the start"
        )
        raise
    return version
