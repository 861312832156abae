"""What changed between two versions, judged on the exported lines.

Examples are matched by conversation id; an example is "edited" when its exported line (the
redacted text with reviewer edits) differs, "moved" when only its split differs. A removed
example gets a reason: merged as a duplicate of another example of the newer version (recorded
by its build), or — as the conversation stands now — rejected, back in review, deleted from
the dataset, or still approved and so left out by the newer version's filter.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson
from django.db import connection

from curation.models import Conversation, ConversationStatus, DatasetVersion, VersionExample
from curation.services.versions.files import read_example_line

CHUNK_SIZE = 2000

REMOVED_REASONS = {
    "merged": "merged as a duplicate",
    "rejected": "rejected",
    "in_review": "back in review",
    "deleted": "deleted from the dataset (purged)",
    "filtered": "excluded by the filter",
}

_DIFF_SQL = """
WITH a AS (SELECT conversation_id, content_hash, split, byte_offset, byte_length
           FROM {members} WHERE version_id = %(old)s AND duplicate_of IS NULL),
     b AS (SELECT conversation_id, content_hash, split, byte_offset, byte_length
           FROM {members} WHERE version_id = %(new)s AND duplicate_of IS NULL),
     bd AS (SELECT conversation_id, duplicate_of
            FROM {members} WHERE version_id = %(new)s AND duplicate_of IS NOT NULL)
SELECT coalesce(a.conversation_id, b.conversation_id) AS conversation_id,
       a.content_hash, a.split, a.byte_offset, a.byte_length,
       b.content_hash, b.split, b.byte_offset, b.byte_length,
       bd.duplicate_of, c.status, c.id IS NOT NULL
FROM a FULL OUTER JOIN b ON a.conversation_id = b.conversation_id
LEFT JOIN bd ON b.conversation_id IS NULL AND bd.conversation_id = a.conversation_id
LEFT JOIN {conversations} c ON b.conversation_id IS NULL AND c.id = a.conversation_id
WHERE (a.conversation_id IS NULL OR b.conversation_id IS NULL
   OR a.content_hash <> b.content_hash OR a.split <> b.split)
{where}
ORDER BY 1
"""


@dataclass
class DiffEntry:
    conversation_id: int
    kind: str  # added | removed | edited | moved
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str = ""
    merged_into: int | None = None
    # For the page: the word diff of an edited example, once read from the files.
    changes: dict[str, Any] | None = None

    @property
    def reason_label(self) -> str:
        return REMOVED_REASONS.get(self.reason, "")

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.conversation_id,
            "before": _public(self.before),
            "after": _public(self.after),
        }
        if self.kind == "removed":
            data["reason"] = self.reason
            if self.merged_into is not None:
                data["merged_into"] = self.merged_into
        return data


def _public(side: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"sha256": side["sha256"], "split": side["split"]} if side else None


def _side(digest: str | None, split: str, offset: int | None, length: int | None) -> Any:
    if digest is None:
        return None
    return {"sha256": digest, "split": split, "offset": offset, "length": length}


def _removal_reason(merged_into: int | None, status: str | None, exists: bool) -> str:
    if merged_into is not None:
        return "merged"
    if not exists:
        return "deleted"
    if status == ConversationStatus.REJECTED:
        return "rejected"
    if status == ConversationStatus.APPROVED:
        return "filtered"
    return "in_review"


def iter_diff(
    old: DatasetVersion, new: DatasetVersion, *, kind: str | None = None
) -> Iterator[DiffEntry]:
    """Examples added, removed, edited or moved from `old` to `new`, by id (one kind if given)."""
    where = {
        None: "",
        "added": "AND a.conversation_id IS NULL",
        "removed": "AND b.conversation_id IS NULL",
        "edited": "AND a.content_hash <> b.content_hash",
        "moved": "AND a.content_hash = b.content_hash AND a.split <> b.split",
    }[kind]
    sql = _DIFF_SQL.format(
        members=VersionExample._meta.db_table,
        conversations=Conversation._meta.db_table,
        where=where,
    )
    # A server-side cursor: a diff of two large versions is read in pages, never whole.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, {"old": old.pk, "new": new.pk})
        while rows := cursor.fetchmany(CHUNK_SIZE):
            for (
                conversation_id,
                old_hash,
                old_split,
                old_offset,
                old_length,
                new_hash,
                new_split,
                new_offset,
                new_length,
                merged_into,
                status,
                exists,
            ) in rows:
                before = _side(old_hash, old_split, old_offset, old_length)
                after = _side(new_hash, new_split, new_offset, new_length)
                if before is None:
                    yield DiffEntry(conversation_id, "added", None, after)
                elif after is None:
                    reason = _removal_reason(merged_into, status, exists)
                    yield DiffEntry(conversation_id, "removed", before, None, reason, merged_into)
                elif old_hash != new_hash:
                    yield DiffEntry(conversation_id, "edited", before, after)
                else:
                    yield DiffEntry(conversation_id, "moved", before, after)


def diff_counts(old: DatasetVersion, new: DatasetVersion) -> dict[str, Any]:
    """How many examples were added, removed (by reason), edited, moved and left unchanged."""
    members = VersionExample._meta.db_table
    conversations = Conversation._meta.db_table
    sql = f"""
    WITH a AS (SELECT conversation_id, content_hash, split FROM {members}
               WHERE version_id = %(old)s AND duplicate_of IS NULL),
         b AS (SELECT conversation_id, content_hash, split FROM {members}
               WHERE version_id = %(new)s AND duplicate_of IS NULL),
         bd AS (SELECT conversation_id, duplicate_of FROM {members}
                WHERE version_id = %(new)s AND duplicate_of IS NOT NULL)
    SELECT count(*) FILTER (WHERE a.conversation_id IS NULL),
           count(*) FILTER (WHERE b.conversation_id IS NULL),
           count(*) FILTER (WHERE b.conversation_id IS NULL AND bd.duplicate_of IS NOT NULL),
           count(*) FILTER (WHERE b.conversation_id IS NULL AND bd.duplicate_of IS NULL
                            AND c.id IS NULL),
           count(*) FILTER (WHERE b.conversation_id IS NULL AND bd.duplicate_of IS NULL
                            AND c.status = %(rejected)s),
           count(*) FILTER (WHERE b.conversation_id IS NULL AND bd.duplicate_of IS NULL
                            AND c.status = %(approved)s),
           count(*) FILTER (WHERE a.content_hash <> b.content_hash),
           count(*) FILTER (WHERE a.content_hash = b.content_hash AND a.split <> b.split),
           count(*) FILTER (WHERE a.content_hash = b.content_hash AND a.split = b.split)
    FROM a FULL OUTER JOIN b ON a.conversation_id = b.conversation_id
    LEFT JOIN bd ON b.conversation_id IS NULL AND bd.conversation_id = a.conversation_id
    LEFT JOIN {conversations} c ON b.conversation_id IS NULL AND c.id = a.conversation_id
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "old": old.pk,
                "new": new.pk,
                "rejected": ConversationStatus.REJECTED.value,
                "approved": ConversationStatus.APPROVED.value,
            },
        )
        (added, removed, merged, deleted, rejected, filtered, edited, moved, unchanged) = (
            cursor.fetchone()
        )
    return {
        "added": added,
        "removed": removed,
        "removed_by_reason": {
            "merged": merged,
            "rejected": rejected,
            "in_review": removed - merged - deleted - rejected - filtered,
            "deleted": deleted,
            "filtered": filtered,
        },
        "edited": edited,
        "moved": moved,
        # Kept for scripts that read the earlier names.
        "changed": edited + moved,
        "changed_content": edited,
        "changed_split": moved,
        "unchanged": unchanged,
    }


def diff_json_chunks(old: DatasetVersion, new: DatasetVersion) -> Iterator[str]:
    """The diff as one JSON document, streamed: header, then each kind's entries."""
    counts = diff_counts(old, new)
    header = {
        "dataset": old.dataset.slug,
        "from_version": old.number,
        "to_version": new.number,
        "counts": counts,
    }
    yield orjson.dumps(header).decode()[:-1]
    for kind in ("added", "removed", "edited", "moved"):
        yield f',"{kind}":['
        first = True
        for entry in iter_diff(old, new, kind=kind):
            yield ("" if first else ",") + orjson.dumps(entry.as_json()).decode()
            first = False
        yield "]"
    yield "}\n"


# -- the text of an edited example ------------------------------------------------------------

_WORDS = re.compile(r"\s+|\w+|[^\w\s]")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) pieces that turn `old` into `new` word by word; op is =, - or +."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(("=", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("-", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(("+", "".join(b[j1:j2])))
    return pieces


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return orjson.dumps(message).decode()
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    if content is not None and not isinstance(content, str):
        text = orjson.dumps(content, option=orjson.OPT_INDENT_2).decode()
    rest = {key: value for key, value in message.items() if key not in ("role", "content")}
    if rest:
        text += ("\n" if text else "") + orjson.dumps(rest, option=orjson.OPT_SORT_KEYS).decode()
    return text


def example_changes(old_line: bytes, new_line: bytes) -> dict[str, Any]:
    """The messages that differ between two exported lines, each with a word diff."""
    old, new = orjson.loads(old_line), orjson.loads(new_line)
    old_messages, new_messages = old.get("messages", []), new.get("messages", [])
    changes = []
    unchanged = 0
    for index in range(max(len(old_messages), len(new_messages))):
        before = old_messages[index] if index < len(old_messages) else None
        after = new_messages[index] if index < len(new_messages) else None
        if before == after:
            unchanged += 1
            continue
        role = (after or before or {}).get("role", "") if isinstance(after or before, dict) else ""
        changes.append(
            {
                "index": index,
                "role": role,
                "pieces": word_diff(
                    _message_text(before) if before is not None else "",
                    _message_text(after) if after is not None else "",
                ),
            }
        )
    other = sorted(
        key for key in set(old) | set(new) if key != "messages" and old.get(key) != new.get(key)
    )
    return {"messages": changes, "unchanged_messages": unchanged, "other_fields": other}


def edited_text(
    entry: DiffEntry, old: DatasetVersion, new: DatasetVersion
) -> dict[str, Any] | None:
    """The changes of an edited entry, read from both versions' files; None when a file
    is gone (a deleted version keeps only its hashes)."""
    if entry.before is None or entry.after is None:
        return None
    lines = []
    for version, side in ((old, entry.before), (new, entry.after)):
        if side["offset"] is None:
            return None
        line = read_example_line(
            version,
            split=side["split"],
            offset=side["offset"],
            length=side["length"],
            sha256=side["sha256"],
        )
        if line is None:
            return None
        lines.append(line)
    return example_changes(lines[0], lines[1])


@dataclass
class DiffPage:
    counts: dict[str, Any]
    sections: dict[str, list[DiffEntry]]
    limit: int
    text_limit: int


def diff_page(
    *, old: DatasetVersion, new: DatasetVersion, limit: int = 500, text_limit: int = 50
) -> DiffPage:
    """The first `limit` entries of each kind; the first `text_limit` edited ones carry their
    changes (`entry.changes`, None when a file is gone)."""
    sections = {
        kind: list(islice(iter_diff(old, new, kind=kind), limit))
        for kind in ("added", "removed", "edited", "moved")
    }
    for entry in sections["edited"][:text_limit]:
        entry.changes = edited_text(entry, old, new)
    return DiffPage(
        counts=diff_counts(old, new), sections=sections, limit=limit, text_limit=text_limit
    )
