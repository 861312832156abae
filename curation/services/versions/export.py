"""Phase 1 of a build: export one id range of the selection to its part files.

The selected conversations of the range are read in keyset pages of CHUNK_SIZE rows; each
example goes through `redacted_messages` — the one function that decides what may leave the
system — and its exported line is written to the part's line file, with a row of facts (id,
split key, the line's sha256, its near-duplicate key, length, tokens…) in a second file and
its duplicate keys in a third.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from django.db import connection
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
    VersionFormat,
)
from curation.pii.redaction import RedactionError, redact_messages
from curation.selectors.redaction import redacted_messages
from curation.services.versions.files import VersionError
from curation.services.versions.preference import (
    attach_pairs,
    chosen_conversation,
    preference_example,
)
from curation.services.versions.preview import select_examples
from curation.services.versions.stats import Stats, pii_counts, pii_field
from curation.splits import (
    SYSTEM_ROLES,
    TRAIN,
    VALIDATION,
    near_duplicate_key,
    split_for_key,
    split_key,
    validation_threshold,
)
from curation.token_count import count_conversations
from curation.validation import invalid_function_name

CHUNK_SIZE = 2000

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
                        raise VersionError(
                            f"conversation {conversation.id} cannot be redacted: {error}"
                        ) from None
                    prepended = int(prepended_pair)
                    # Prompt (with a prepended system prompt) + chosen + rejected, as exported.
                    tokens, assistant = count_conversations(
                        [
                            (
                                [
                                    *example["input"]["messages"],
                                    *example["preferred_output"],
                                    *example["non_preferred_output"],
                                ],
                                conversation.tools,
                            )
                        ],
                        threads=False,
                    )[0]
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
                        raise VersionError(
                            f"conversation {conversation.id} cannot be redacted: {error}"
                        ) from None
                    tokens, assistant = conversation.token_count, conversation.assistant_tokens
                    if findings or purged or chosen is not None:
                        # The exported text differs from the counted original: count it.
                        tokens, assistant = count_conversations(
                            [(messages, conversation.tools)], threads=False
                        )[0]
                    prepended = 0
                    if prompt and not any(
                        message.get("role") in SYSTEM_ROLES for message in messages
                    ):
                        messages = [prompt_message, *messages]
                        tokens += prompt_tokens
                        prepended = 1
                    # A row without tools whose stored text never says "tool_calls" names
                    # no function: the per-message walk is skipped for it.
                    refused = (
                        None
                        if type(conversation) is Row and conversation.no_functions
                        else invalid_function_name(conversation.tools, messages)
                    )
                    if refused is not None:
                        # Fail closed: a provider refuses the whole file for one such name,
                        # and a name is shown unescaped by other tools.
                        raise VersionError(
                            f"conversation {conversation.id}: {refused[0]}: {refused[1]}; "
                            "reject it or fix the name before building a version"
                        )
                    example = {"messages": messages}
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
                pii = pii_counts(findings)
                stats.purged += purged
                stats.add(
                    split=split,
                    tokens=tokens,
                    assistant_tokens=assistant,
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
                        assistant,
                        repr(score).encode() if score is not None else b"-",
                        prepended,
                        purged,
                        pii_field(pii),
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
        "no_functions",
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
        *,
        no_functions: bool = False,
    ) -> None:
        self.id, self.original, self.tools, self.parallel_tool_calls = pk, original, tools, parallel
        self.no_functions = no_functions
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
                        no_functions=tools is None and '"tool_calls"' not in original,
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
                # Django's own prefetch cache (not in its stubs): nothing to fetch for these.
                conversation._prefetched_objects_cache = {"revisions": no_revisions}  # type: ignore[attr-defined]
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
