"""Dataset versions: pick approved examples, preview them, freeze them into files, diff them.

The build streams: conversations are read in keyset chunks of CHUNK_SIZE rows (only the
columns it needs, with the chunk's findings and revisions in one query each), each example goes through
`redacted_messages` — the one function that decides what may leave the system — and is
written as one JSON line to a temporary file while the file's sha256 is computed. Only the
finished files are saved to the storage, under names fixed by the version, so a retry after a
killed worker overwrites what the first attempt left and duplicates nothing. The example
list (id, line sha256, split) goes to the database in one COPY in the same transaction that
marks the version built, so a version is either built with all its members or not at all.

Nothing in the build keeps per-example state in memory: counters and fixed-size histograms
only; the manifest's example list is streamed from a temporary file.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    F,
    JSONField,
    Max,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.base import ModelState
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from curation.models import (
    AuditEvent,
    Conversation,
    ConversationRevision,
    Dataset,
    DatasetVersion,
    FindingDecision,
    ImportBatch,
    PiiFinding,
    Review,
    TrainingPrice,
    VersionExample,
    VersionStatus,
)
from curation.models.snapshots import DATA_FILES
from curation.splits import (
    TRAIN,
    VALIDATION,
    is_validation_sql,
    split_of,
    validation_threshold,
)
from training.pricing import estimate_cost

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
SYSTEM_ROLES = frozenset({"system", "developer"})
# Token histogram bucket edges (an example falls in the last edge ≤ its count).
TOKEN_BUCKETS = (0, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
SCORE_BUCKETS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)
MANIFEST_FORMAT = "curator.dataset-version/1"
SPLIT_RULE = (
    "u = int(sha256(f'{seed}:{key}').hexdigest()[:15], 16); validation if "
    "u < ceil(validation_fraction * 16**15) else train; key = near_dup_cluster if set, "
    "else the conversation id"
)
SYSTEM_PROMPT_POLICY = (
    "When the dataset has a default system prompt and prepend_system_prompt is true, an example "
    "with no system or developer message gets the prompt as its first message, as the model "
    "will be prompted in production; examples with their own system message keep it unchanged."
)

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


class SnapshotError(ValueError):
    """A version cannot be made as asked; the message says why, in one line."""


class TamperedFileError(Exception):
    """A stored file's bytes no longer match the sha256 recorded when it was built."""

    def __init__(
        self, version: DatasetVersion, name: str, expected: str, actual: str | None
    ) -> None:
        self.version, self.name, self.expected, self.actual = version, name, expected, actual
        found = f"sha256 {actual}" if actual else "the file is missing"
        super().__init__(
            f"{version.download_name(name)} does not match its recorded sha256 {expected} "
            f"({found}); it was changed or damaged after the build and will not be served."
        )


# -- choosing examples ------------------------------------------------------------------


def normalize_filter(
    *,
    min_score: float | None = None,
    exclude_flags: list[str] | tuple[str, ...] = (),
    batches: list[int] | tuple[int, ...] = (),
) -> dict[str, Any]:
    """The filter as stored on a version and written to its manifest (approved only, always)."""
    return {
        "status": "approved",
        "min_score": float(min_score) if min_score is not None else None,
        "exclude_flags": sorted({str(flag) for flag in exclude_flags}),
        "batches": sorted({int(batch) for batch in batches}),
    }


def select_examples(*, dataset: Dataset, filter: dict[str, Any]) -> QuerySet[Conversation]:
    """The approved conversations of the dataset that pass the filter."""
    conversations = Conversation.objects.filter(dataset=dataset).approved()
    if filter.get("min_score") is not None:
        conversations = conversations.filter(score_avg__gte=filter["min_score"])
    if filter.get("exclude_flags"):
        conversations = conversations.exclude(flags__overlap=list(filter["exclude_flags"]))
    if filter.get("batches"):
        conversations = conversations.filter(batch_id__in=list(filter["batches"]))
    return conversations


def default_seed(dataset: Dataset) -> int:
    """The previous version's seed, so that examples keep their split from version to version."""
    latest = dataset.versions.exclude(status=VersionStatus.FAILED).order_by("-number").first()
    return latest.seed if latest else 0


def system_prompt_tokens(prompt: str) -> int:
    """Tokens one system message with this prompt adds to an example."""
    if not prompt:
        return 0
    from curation.tokens import TOKENS_REPLY_PRIMING, count_conversations

    [(tokens, _)] = count_conversations([([{"role": "system", "content": prompt}], None)])
    return tokens - TOKENS_REPLY_PRIMING


@dataclass
class Preview:
    examples: int
    train: int
    validation: int
    total_tokens: int
    assistant_tokens: int
    train_tokens: int
    prepended: int
    prompt_tokens: int
    estimates: list[dict[str, Any]] = field(default_factory=list)


def preview_version(
    *,
    dataset: Dataset,
    filter: dict[str, Any],
    validation_fraction: float,
    seed: int,
    prepend_system_prompt: bool = True,
) -> Preview:
    """Counts, token totals and cost estimates for a version, in one aggregate query."""
    threshold = validation_threshold(validation_fraction)
    prompt = dataset.system_prompt if prepend_system_prompt else ""
    prompt_tokens = system_prompt_tokens(prompt)
    prices = list(TrainingPrice.objects.seeded())
    limits = sorted({price.token_limit for price in prices})
    # The prompt is added to examples flagged as having no system message at import.
    lacks_system = Q(flags__contains=["no_system_message"])
    tokens = F("token_count") + Case(
        When(lacks_system, then=Value(prompt_tokens)), default=Value(0)
    )
    train = Q(in_validation=False)
    aggregates: dict[str, Any] = {
        "examples": Count("id"),
        "validation": Count("id", filter=Q(in_validation=True)),
        "total_tokens": Coalesce(Sum(tokens), 0),
        "assistant_tokens": Coalesce(Sum("assistant_tokens"), 0),
        "train_tokens": Coalesce(Sum(tokens, filter=train), 0),
    }
    if prompt:
        aggregates["prepended"] = Count("id", filter=lacks_system)
    for limit in limits:
        aggregates[f"capped_{limit}"] = Coalesce(Sum(Least(tokens, Value(limit)), filter=train), 0)
    row = (
        select_examples(dataset=dataset, filter=filter)
        .annotate(in_validation=is_validation_sql(seed=seed, threshold=threshold))
        .aggregate(**aggregates)
    )
    preview = Preview(
        examples=row["examples"],
        train=row["examples"] - row["validation"],
        validation=row["validation"],
        total_tokens=row["total_tokens"],
        assistant_tokens=row["assistant_tokens"],
        train_tokens=row["train_tokens"],
        prepended=row.get("prepended", 0),
        prompt_tokens=prompt_tokens,
    )
    for price in prices:
        estimate = estimate_cost(
            price=price, examples=preview.train, capped_tokens=row[f"capped_{price.token_limit}"]
        ).as_dict()
        preview.estimates.append(
            {"price": price, "is_dataset_model": price.model == dataset.base_model, **estimate}
        )
    preview.estimates.sort(
        key=lambda item: (not item["is_dataset_model"], item["price"].provider, item["price"].model)
    )
    return preview


# -- creating and building ----------------------------------------------------------------


def create_version(
    *,
    dataset: Dataset,
    user: Any,
    filter: dict[str, Any],
    validation_fraction: float | None = None,
    seed: int | None = None,
    notes: str = "",
    prepend_system_prompt: bool = True,
    enqueue: bool = True,
) -> DatasetVersion:
    """Number a new version and queue its build; SnapshotError if no example would be in it."""
    if validation_fraction is None:
        validation_fraction = settings.CURATOR_VALIDATION_FRACTION
    try:
        validation_threshold(validation_fraction)
    except ValueError as error:
        raise SnapshotError(f"validation fraction {validation_fraction}: {error}") from None
    if seed is None:
        seed = default_seed(dataset)
    if filter.get("batches"):
        known = set(
            ImportBatch.objects.filter(dataset=dataset, pk__in=filter["batches"]).values_list(
                "pk", flat=True
            )
        )
        unknown = sorted(set(filter["batches"]) - known)
        if unknown:
            raise SnapshotError(f"no import batch {unknown[0]} in dataset {dataset.slug!r}")
    if not select_examples(dataset=dataset, filter=filter).exists():
        raise SnapshotError(f"no approved example of dataset {dataset.slug!r} matches the filter")
    prompt = dataset.system_prompt if prepend_system_prompt else ""
    # Counted here, once, so the build never loads the tokenizer.
    prompt_tokens = system_prompt_tokens(prompt)
    with transaction.atomic():
        # Lock the dataset row so two admins never get the same number.
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        last = dataset.versions.aggregate(last=Max("number"))["last"] or 0
        version = DatasetVersion.objects.create(
            dataset=dataset,
            number=last + 1,
            notes=notes.strip(),
            filter=filter,
            validation_fraction=validation_fraction,
            seed=seed,
            prepend_system_prompt=bool(prompt),
            system_prompt=prompt,
            system_prompt_tokens=prompt_tokens,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        AuditEvent.record(
            actor=user,
            action="version.create",
            obj=version,
            dataset=dataset,
            number=version.number,
            filter=filter,
            validation_fraction=validation_fraction,
            seed=seed,
        )
        if enqueue:
            version.enqueue()
    return version


def storage_name(version: DatasetVersion, name: str) -> str:
    return f"{settings.CURATOR_SNAPSHOT_PREFIX}/{version.dataset_id}/v{version.number}/{name}"


class _HashingWriter:
    """A temporary file that hashes and counts what is written to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] = path.open("wb", buffering=1024 * 1024)
        self.digest = hashlib.sha256()
        self.size = 0
        self.lines = 0

    def write_lines(self, lines: list[bytes]) -> None:
        if not lines:
            return
        data = b"".join(lines)
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)
        self.lines += len(lines)

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self) -> dict[str, Any]:
        self.handle.close()
        return {"sha256": self.digest.hexdigest(), "size": self.size}


class _BuiltFile(File):
    """A finished temporary file; FileSystemStorage moves it into place instead of copying."""

    def temporary_file_path(self) -> str:
        return self.file.name


@dataclass
class _Stats:
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
        findings: list[PiiFinding],
    ) -> None:
        if score is None:
            self.unscored += 1
        elif score >= SCORE_BUCKETS[0]:
            self.scores[bisect.bisect_right(SCORE_BUCKETS, score) - 1] += 1
        if findings:
            for entity_type in {finding.entity_type for finding in findings}:
                self.pii.setdefault(entity_type, [0, 0])[1] += 1
            for finding in findings:
                self.pii[finding.entity_type][0] += 1
        self.examples += 1
        self.total_tokens += tokens
        self.assistant_tokens += assistant_tokens
        if split == TRAIN:
            self.train += 1
            self.train_tokens += tokens
        else:
            self.validation += 1
            self.validation_tokens += tokens
        self.max_tokens = max(self.max_tokens, tokens)
        self.histogram[bisect.bisect_right(TOKEN_BUCKETS, tokens) - 1] += 1

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
            ],
            "system_prompt_prepended": self.prepended,
            "originals_purged": self.purged,
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


def _chunks(
    conversations: QuerySet[Conversation], dataset: Dataset
) -> Iterator[list[Conversation]]:
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
    # The standard library's parser: orjson reads integers beyond 64 bits as floats, and an
    # export must not change a number.
    loads = json.loads
    db = connection.alias
    last_id = 0
    while True:
        sql, params = page.filter(id__gt=last_id)[:CHUNK_SIZE].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return
        chunk = []
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
            )
            chunk.append(conversation)
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
        if edited:
            prefetch_related_objects(
                [conversation for conversation in chunk if conversation.id in edited],
                Prefetch("revisions", queryset=ordered_revisions),
            )
        for conversation in chunk:
            conversation.redact_findings = findings.get(conversation.id, [])
            if conversation.id not in edited:
                conversation._prefetched_objects_cache = {"revisions": no_revisions}
        yield chunk
        last_id = rows[-1][0]


def _clear_storage(version: DatasetVersion, names: tuple[str, ...]) -> None:
    for name in names:
        path = storage_name(version, name)
        if default_storage.exists(path):
            default_storage.delete(path)


def _save(version: DatasetVersion, name: str, path: Path) -> str:
    target = storage_name(version, name)
    with path.open("rb") as handle:
        saved = default_storage.save(target, _BuiltFile(handle, name=name))
    if saved != target:
        # Another file took the name between clearing and saving: refuse to guess.
        default_storage.delete(saved)
        raise RuntimeError(f"could not store {target}: the name is taken")
    return saved


def build_version(*, version: DatasetVersion) -> DatasetVersion:
    """Build the files of a claimed version and mark it built; safe to run again."""
    from curation.pii.redaction import RedactionError
    from curation.services.pii import redacted_messages

    dataset = Dataset.objects.get(pk=version.dataset_id)
    version.dataset = dataset
    _clear_storage(version, ("train.jsonl", "validation.jsonl", "manifest.json"))
    conversations = select_examples(dataset=dataset, filter=version.filter)
    version.beat(total=conversations.count(), done=0)
    threshold = validation_threshold(version.validation_fraction)
    seed = version.seed
    prompt = version.system_prompt if version.prepend_system_prompt else ""
    prompt_message = {"role": "system", "content": prompt}
    prompt_tokens = version.system_prompt_tokens
    stats = _Stats()
    version_id = version.pk
    sha256 = hashlib.sha256
    with tempfile.TemporaryDirectory(
        prefix="curator-snapshot-", dir=settings.FILE_UPLOAD_TEMP_DIR
    ) as folder:
        work = Path(folder)
        writers = {
            TRAIN: _HashingWriter(work / "train.jsonl"),
            VALIDATION: _HashingWriter(work / "validation.jsonl"),
        }
        members = _HashingWriter(work / "members.tsv")
        for chunk in _chunks(conversations, dataset):
            lines: dict[str, list[bytes]] = {TRAIN: [], VALIDATION: []}
            rows: list[bytes] = []
            for conversation in chunk:
                if conversation.originals_purged_at is not None:
                    stats.purged += 1
                try:
                    messages = redacted_messages(
                        conversation, findings=conversation.redact_findings
                    )
                except RedactionError as error:
                    # Fail closed: an example whose findings do not fit is never written.
                    raise SnapshotError(
                        f"conversation {conversation.id} cannot be redacted: {error}"
                    ) from None
                tokens = conversation.token_count
                if prompt and not any(message.get("role") in SYSTEM_ROLES for message in messages):
                    messages = [prompt_message, *messages]
                    tokens += prompt_tokens
                    stats.prepended += 1
                example: dict[str, Any] = {"messages": messages}
                if conversation.tools is not None:
                    example["tools"] = conversation.tools
                if conversation.parallel_tool_calls is not None:
                    example["parallel_tool_calls"] = conversation.parallel_tool_calls
                line = dump_line(example)
                split = split_of(
                    conversation.id, conversation.near_dup_cluster, seed=seed, threshold=threshold
                )
                lines[split].append(line + b"\n")
                rows.append(
                    b"%d\t%s\t%s\t%d\n"
                    % (
                        conversation.id,
                        sha256(line).hexdigest().encode(),
                        split.encode(),
                        version_id,
                    )
                )
                stats.add(
                    split=split,
                    tokens=tokens,
                    assistant_tokens=conversation.assistant_tokens,
                    score=conversation.score_avg,
                    findings=conversation.redact_findings,
                )
            for split, split_lines in lines.items():
                writers[split].write_lines(split_lines)
            members.write_lines(rows)
            version.beat(done=stats.examples)
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
        with transaction.atomic():
            _copy_members(version, members.path)
            datasheet = {**stats.datasheet(), "reviewers": _reviewers(version)}
            manifest = _write_manifest(
                version=version,
                dataset=dataset,
                parent=parent,
                stats=stats,
                files=files,
                pii_settings=pii_settings,
                datasheet=datasheet,
                members=members.path,
                path=work / "manifest.json",
            )
            files["manifest.json"] = manifest
            for name in ("train.jsonl", "validation.jsonl", "manifest.json"):
                files[name]["name"] = _save(version, name, work / name)
            version.succeed(
                parent=parent,
                done=stats.examples,
                examples=stats.examples,
                train_examples=stats.train,
                validation_examples=stats.validation,
                total_tokens=stats.total_tokens,
                assistant_tokens=stats.assistant_tokens,
                files=files,
                stats=datasheet,
                pii_settings=pii_settings,
            )
    return version


def _copy_members(version: DatasetVersion, path: Path) -> None:
    VersionExample.objects.filter(version=version).delete()
    table = VersionExample._meta.db_table
    with connection.cursor() as cursor, path.open("rb") as handle:
        raw = cursor.cursor
        with raw.copy(
            f"COPY {table} (conversation_id, content_hash, split, version_id) FROM STDIN"
        ) as copy:
            # The rows already carry the version id: the file goes over in large blocks.
            while block := handle.read(1024 * 1024):
                copy.write(block)


def _reviewers(version: DatasetVersion) -> list[dict[str, Any]]:
    """Who reviewed the version's examples: one aggregate over its members."""
    members = VersionExample.objects.filter(version=version).values("conversation_id")
    rows = (
        Review.objects.filter(conversation_id__in=members)
        .values("reviewer__username")
        .annotate(reviews=Count("id"), approvals=Count("id", filter=Q(decision="approve")))
        .order_by("-reviews", "reviewer__username")
    )
    return [
        {
            "username": row["reviewer__username"],
            "reviews": row["reviews"],
            "approvals": row["approvals"],
        }
        for row in rows
    ]


def _write_manifest(
    *,
    version: DatasetVersion,
    dataset: Dataset,
    parent: DatasetVersion | None,
    stats: _Stats,
    files: dict[str, dict[str, Any]],
    pii_settings: dict[str, Any],
    datasheet: dict[str, Any],
    members: Path,
    path: Path,
) -> dict[str, Any]:
    placeholder = "@@EXAMPLES@@"
    header = {
        "format": MANIFEST_FORMAT,
        "dataset": {"id": dataset.pk, "slug": dataset.slug, "name": dataset.name},
        "version": version.number,
        "parent_version": parent.number if parent else None,
        "created_by": version.created_by.get_username() if version.created_by else None,
        "created_at": version.created_at.isoformat(),
        "built_at": timezone.now().isoformat(),
        "notes": version.notes,
        "filter": version.filter,
        "validation_fraction": version.validation_fraction,
        "seed": version.seed,
        "split_rule": SPLIT_RULE,
        "system_prompt": {
            "policy": SYSTEM_PROMPT_POLICY,
            "prepend": version.prepend_system_prompt,
            "text": version.system_prompt if version.prepend_system_prompt else None,
            "examples_prepended": stats.prepended,
        },
        "redaction": {
            "function": "curation.services.pii.redacted_messages",
            "pii_settings": pii_settings,
            "entities_redacted": datasheet["pii"],
        },
        "format_notes": (
            "JSON lines in OpenAI chat fine-tuning format: messages (weight kept), tools and "
            "parallel_tool_calls when the source had them; sorted by conversation id; compact "
            "UTF-8 JSON (no spaces, non-ASCII characters unescaped), one example per line."
        ),
        "counts": {
            "examples": stats.examples,
            "train": stats.train,
            "validation": stats.validation,
        },
        "tokens": stats.tokens(),
        "files": {
            name: {"sha256": info["sha256"], "size": info["size"], "examples": info["examples"]}
            for name, info in files.items()
        },
        "examples": placeholder,
    }
    text = json.dumps(header, indent=2, ensure_ascii=False)
    before, after = text.split(json.dumps(placeholder), 1)
    writer = _HashingWriter(path)
    writer.write(before.encode() + b"[")
    with members.open("rb") as handle:
        first = True
        for row in handle:
            conversation_id, digest, split, _ = row.split(b"\t")
            writer.write(
                (b"\n" if first else b",\n")
                + b'    {"id": %s, "sha256": "%s", "split": "%s"}'
                % (conversation_id, digest, split)
            )
            first = False
    writer.write(b"\n  ]" + after.encode() + b"\n")
    return writer.close()


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


# -- deleting and reading files ---------------------------------------------------------


def delete_version(*, version: DatasetVersion, user: Any) -> bool:
    """Remove a version's data files; its row, members and manifest stay (status deleted)."""
    with transaction.atomic():
        if not version.mark_deleted(user=user):
            return False
        AuditEvent.record(
            actor=user,
            action="version.delete",
            obj=version,
            dataset=version.dataset,
            number=version.number,
            files=[name for name in DATA_FILES if version.file_info(name)],
        )
    # After the commit: a failed delete of a file leaves an orphan, never a missing file
    # behind a version that claims to have it.
    _clear_storage(version, DATA_FILES)
    return True


def file_sha256(name: str) -> str | None:
    """sha256 of a stored file, read in chunks; None if it does not exist."""
    if not default_storage.exists(name):
        return None
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(version: DatasetVersion, name: str) -> dict[str, Any]:
    """The file's recorded info once its stored bytes are checked; TamperedFileError if not."""
    info = version.file_info(name)
    if info is None:
        raise FileNotFoundError(name)
    actual = file_sha256(info["name"])
    if actual != info["sha256"]:
        raise TamperedFileError(version, name, info["sha256"], actual)
    return info


def record_tampered(*, error: TamperedFileError, user: Any) -> None:
    logger.error("refused to serve %s: %s", error.name, error)
    AuditEvent.record(
        actor=user,
        action="version.file_mismatch",
        obj=error.version,
        dataset=error.version.dataset,
        file=error.name,
        expected=error.expected,
        actual=error.actual,
    )


def cli_summary(version: DatasetVersion) -> dict[str, Any]:
    """The `manage.py snapshot --json` contract (DESIGN.md)."""

    def path_of(name: str) -> str:
        try:
            return default_storage.path(name)
        except NotImplementedError:  # remote storage: the storage name is the address
            return name

    return {
        "version": version.number,
        "status": version.status,
        "examples": version.examples,
        "train": version.train_examples,
        "validation": version.validation_examples,
        "files": {
            name: {"path": path_of(info["name"]), "sha256": info["sha256"], "size": info["size"]}
            for name, info in version.available_files()
        },
    }


# -- diffs ------------------------------------------------------------------------------


_DIFF_SQL = """
SELECT coalesce(a.conversation_id, b.conversation_id) AS conversation_id,
       a.content_hash, a.split, b.content_hash, b.split
FROM (SELECT conversation_id, content_hash, split FROM {table} WHERE version_id = %s) a
FULL OUTER JOIN (SELECT conversation_id, content_hash, split FROM {table} WHERE version_id = %s) b
  ON a.conversation_id = b.conversation_id
WHERE a.conversation_id IS NULL OR b.conversation_id IS NULL
   OR a.content_hash <> b.content_hash OR a.split <> b.split
ORDER BY 1
"""


@dataclass
class DiffEntry:
    conversation_id: int
    kind: str  # added | removed | changed
    before: dict[str, str] | None
    after: dict[str, str] | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.conversation_id, "before": self.before, "after": self.after}


def iter_diff(old: DatasetVersion, new: DatasetVersion) -> Iterator[DiffEntry]:
    """Examples added, removed or changed (line sha256 or split) from `old` to `new`, by id."""
    sql = _DIFF_SQL.format(table=VersionExample._meta.db_table)
    # A server-side cursor: a diff of two large versions is read in pages, never whole.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [old.pk, new.pk])
        while rows := cursor.fetchmany(CHUNK_SIZE):
            for conversation_id, old_hash, old_split, new_hash, new_split in rows:
                before = {"sha256": old_hash, "split": old_split} if old_hash else None
                after = {"sha256": new_hash, "split": new_split} if new_hash else None
                kind = "added" if before is None else "removed" if after is None else "changed"
                yield DiffEntry(conversation_id, kind, before, after)


def diff_counts(old: DatasetVersion, new: DatasetVersion) -> dict[str, int]:
    table = VersionExample._meta.db_table
    sql = f"""
    SELECT count(*) FILTER (WHERE a.conversation_id IS NULL),
           count(*) FILTER (WHERE b.conversation_id IS NULL),
           count(*) FILTER (WHERE a.content_hash <> b.content_hash AND a.split = b.split),
           count(*) FILTER (WHERE a.split <> b.split),
           count(*) FILTER (WHERE a.content_hash = b.content_hash AND a.split = b.split)
    FROM (SELECT conversation_id, content_hash, split FROM {table} WHERE version_id = %s) a
    FULL OUTER JOIN (SELECT conversation_id, content_hash, split FROM {table} WHERE version_id = %s) b
      ON a.conversation_id = b.conversation_id
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [old.pk, new.pk])
        added, removed, content, moved, unchanged = cursor.fetchone()
    return {
        "added": added,
        "removed": removed,
        "changed": content + moved,
        "changed_content": content,
        "changed_split": moved,
        "unchanged": unchanged,
    }


def diff_json_chunks(old: DatasetVersion, new: DatasetVersion) -> Iterator[str]:
    """The diff as one JSON document, streamed: header, then added, removed, changed."""
    counts = diff_counts(old, new)
    header = {
        "dataset": old.dataset.slug,
        "from_version": old.number,
        "to_version": new.number,
        "counts": counts,
    }
    yield _encode(header)[:-1]
    for kind in ("added", "removed", "changed"):
        yield f',"{kind}":['
        first = True
        for entry in iter_diff(old, new):
            if entry.kind != kind:
                continue
            yield ("" if first else ",") + _encode(entry.as_json())
            first = False
        yield "]"
    yield "}\n"
