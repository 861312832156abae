"""An eval set: the examples of one split of a built version, read from its stored file.

Each example's prompt is the conversation up to its last assistant turn (with its tools);
that turn is the reference. The file is the version's exported (redacted, edited) text,
checked against its recorded sha256 as it is read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.files.storage import default_storage

from curation.models import DatasetVersion, VersionExample

SPLITS = ("validation", "train")


class EvalSetError(ValueError):
    """The eval set cannot be read; the message names the file (and line)."""


@dataclass(frozen=True)
class EvalItem:
    position: int
    key: str
    conversation_id: int | None
    prompt: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    reference: dict[str, Any]


def split_example(example: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """(prompt, reference) of an exported example, or None without an assistant turn."""
    messages = example.get("messages")
    if not isinstance(messages, list):
        return None
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "assistant":
            return messages[:index], message
    return None


def iter_eval_set(
    version: DatasetVersion, split: str, *, limit: int | None = None
) -> Iterator[EvalItem]:
    name = f"{split}.jsonl"
    info = version.file_info(name)
    if split not in SPLITS or info is None:
        raise EvalSetError(f"{version.download_name(name)} is not part of {version}")
    if not version.is_built:
        raise EvalSetError(f"{version} is {version.status}, not built")
    members = dict(
        VersionExample.objects.filter(version=version, split=split).values_list(
            "content_hash", "conversation_id"
        )
    )
    digest = hashlib.sha256()
    produced = 0
    with default_storage.open(info["name"], "rb") as handle:
        for position, raw in enumerate(handle):
            digest.update(raw)
            if limit is not None and produced >= limit:
                continue  # keep hashing: the whole file is checked
            line = raw.rstrip(b"\n")
            try:
                example = json.loads(line)
            except ValueError as exc:
                raise EvalSetError(
                    f"{version.download_name(name)} line {position + 1}: not JSON ({exc})"
                ) from None
            parts = split_example(example) if isinstance(example, dict) else None
            if parts is None:
                continue
            key = hashlib.sha256(line).hexdigest()
            produced += 1
            yield EvalItem(
                position=position,
                key=key,
                conversation_id=members.get(key),
                prompt=parts[0],
                tools=example.get("tools"),
                reference=parts[1],
            )
    if digest.hexdigest() != info.get("sha256"):
        raise EvalSetError(
            f"{version.download_name(name)} does not match its recorded sha256; it was changed "
            "after the build"
        )
