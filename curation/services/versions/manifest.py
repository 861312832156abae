"""A version's manifest.json: how it was made, what it holds, streamed from the members file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from curation.models import Dataset, DatasetVersion, Review, VersionExample
from curation.services.versions.files import HashingWriter

MANIFEST_FORMAT = "curator.dataset-version/1"
# Stored manifests name this function; it stays importable under this name.
REDACTION_FUNCTION = "curation.services.pii.redacted_messages"
SPLIT_RULE = (
    "u = int(sha256(f'{seed}:{key}').hexdigest()[:15], 16); validation if "
    "u < ceil(validation_fraction * 16**15) else train; key = near_dup_cluster if set, "
    "else the conversation id; examples whose exported text is identical or near-identical "
    "(same text ignoring system messages, case, spacing, punctuation and placeholder numbers), "
    "or that share a near-duplicate cluster, form one group whose key is its smallest key"
)
DEDUP_RULE = (
    "Examples whose exported line (the redacted text with reviewer edits, byte for byte) is "
    "identical are merged: the one with the smallest conversation id is kept, the others are "
    "listed under duplicates_merged with the id they were merged into."
)
SYSTEM_PROMPT_POLICY = (
    "When the dataset has a default system prompt and prepend_system_prompt is true, an example "
    "with no system or developer message gets the prompt as its first message, as the model "
    "will be prompted in production; examples with their own system message keep it unchanged."
)


def reviewers(version: DatasetVersion) -> list[dict[str, Any]]:
    """Who reviewed the version's examples: one aggregate over its members."""
    members = VersionExample.objects.filter(version=version).in_files().values("conversation_id")
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


def write_manifest(
    *,
    version: DatasetVersion,
    dataset: Dataset,
    parent: DatasetVersion | None,
    counts: dict[str, int],
    tokens: dict[str, Any],
    prepended: int,
    files: dict[str, dict[str, Any]],
    pii_settings: dict[str, Any],
    datasheet: dict[str, Any],
    members: Path,
    path: Path,
) -> dict[str, Any]:
    """Write the manifest to `path`; the example lists are streamed from the members file
    (rows: id, sha256, split, version, duplicate_of or \\N, offset, length)."""
    examples_mark, duplicates_mark = "@@EXAMPLES@@", "@@DUPLICATES@@"
    header = {
        "format": MANIFEST_FORMAT,
        "dataset": {"id": dataset.pk, "slug": dataset.slug, "name": dataset.name},
        "version": version.number,
        # What the data files hold (sft: chat messages; preference: chosen/rejected pairs).
        "example_format": version.format,
        "parent_version": parent.number if parent else None,
        "created_by": version.created_by.get_username() if version.created_by else None,
        "created_at": version.created_at.isoformat(),
        "built_at": timezone.now().isoformat(),
        "notes": version.notes,
        "filter": version.filter,
        "validation_fraction": version.validation_fraction,
        "seed": version.seed,
        "split_rule": SPLIT_RULE,
        "dedup_rule": DEDUP_RULE,
        "system_prompt": {
            "policy": SYSTEM_PROMPT_POLICY,
            "prepend": version.prepend_system_prompt,
            "text": version.system_prompt if version.prepend_system_prompt else None,
            "examples_prepended": prepended,
        },
        "redaction": {
            "function": REDACTION_FUNCTION,
            "pii_settings": pii_settings,
            "entities_redacted": datasheet["pii"],
        },
        "format_notes": (
            "JSON lines in OpenAI chat fine-tuning format: messages (weight kept), tools and "
            "parallel_tool_calls when the source had them; sorted by conversation id; compact "
            "UTF-8 JSON (no spaces, non-ASCII characters unescaped), one example per line."
        ),
        "counts": counts,
        "tokens": tokens,
        "files": {
            name: {"sha256": info["sha256"], "size": info["size"], "examples": info["examples"]}
            for name, info in files.items()
        },
        "examples": examples_mark,
        "duplicates_merged": duplicates_mark,
    }
    text = json.dumps(header, indent=2, ensure_ascii=False)
    before, rest = text.split(json.dumps(examples_mark), 1)
    middle, after = rest.split(json.dumps(duplicates_mark), 1)
    writer = HashingWriter(path)
    writer.write(before.encode() + b"[")
    _write_rows(writer, members, duplicates=False)
    writer.write(b"\n  ]" + middle.encode() + b"[")
    _write_rows(writer, members, duplicates=True)
    writer.write(b"\n  ]" + after.encode() + b"\n")
    return writer.close()


def _write_rows(writer: HashingWriter, members: Path, *, duplicates: bool) -> None:
    first = True
    with members.open("rb") as handle:
        for row in handle:
            conversation_id, digest, split, _, duplicate_of, _, _ = row.split(b"\t")
            if (duplicate_of != b"\\N") != duplicates:
                continue
            if duplicates:
                item = b'    {"id": %s, "duplicate_of": %s, "sha256": "%s"}' % (
                    conversation_id,
                    duplicate_of,
                    digest,
                )
            else:
                item = b'    {"id": %s, "sha256": "%s", "split": "%s"}' % (
                    conversation_id,
                    digest,
                    split,
                )
            writer.write((b"\n" if first else b",\n") + item)
            first = False
