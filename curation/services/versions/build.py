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

import logging
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from curation.models import Dataset, DatasetVersion, VersionExample
from curation.models.jobs import unexpected_error
from curation.services.versions.assemble import assemble, duplicate_groups
from curation.services.versions.files import HashingWriter, VersionError, clear_storage, save_file
from curation.services.versions.manifest import reviewers, write_manifest
from curation.services.versions.parallel import build_processes, export_parts, plan_parts
from curation.services.versions.preview import select_examples
from curation.splits import TRAIN, VALIDATION

logger = logging.getLogger(__name__)


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
                raise VersionError("no approved example matches the filter any more")
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
                # Counted on the exported (redacted, edited) text, with the encoding named.
                tokens={**stats.tokens(), "encoding": settings.CURATOR_TOKEN_ENCODING},
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

    def refused(error: VersionError) -> DatasetVersion:
        version.fail(f"{version}: {error}")
        return version

    built = version.run_claimed(
        lambda: build_version(version=version),
        handlers={VersionError: refused},
        unexpected=lambda error: (
            f"{version}: {unexpected_error(error, 'Retry builds it again from the start')}"
        ),
    )
    return None if built is None else version
