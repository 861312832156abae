"""A version's stored files: names, writing while hashing, checking, reading one line, deleting."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from curation.models import AuditEvent, DatasetVersion
from curation.models.versions import DATA_FILES
from curation.storage import open_stream, read_range

logger = logging.getLogger(__name__)


class VersionError(ValueError):
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


def storage_name(version: DatasetVersion, name: str) -> str:
    return f"{settings.CURATOR_SNAPSHOT_PREFIX}/{version.dataset_id}/v{version.number}/{name}"


class HashingWriter:
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
        assert self.file is not None  # made from an open temporary file
        return self.file.name


def clear_storage(version: DatasetVersion, names: tuple[str, ...]) -> None:
    for name in names:
        path = storage_name(version, name)
        if default_storage.exists(path):
            default_storage.delete(path)


def save_file(version: DatasetVersion, name: str, path: Path) -> str:
    target = storage_name(version, name)
    with path.open("rb") as handle:
        saved = default_storage.save(target, _BuiltFile(handle, name=name))
    if saved != target:
        # Another file took the name between clearing and saving: refuse to guess.
        default_storage.delete(saved)
        raise RuntimeError(f"could not store {target}: the name is taken")
    return saved


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
    clear_storage(version, DATA_FILES)
    return True


def file_sha256(name: str) -> str | None:
    """sha256 of a stored file, streamed; None if it does not exist."""
    digest = hashlib.sha256()
    try:
        handle = open_stream(name)
    except FileNotFoundError:
        return None
    with handle:
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


def checked_file(version: DatasetVersion, name: str) -> dict[str, Any]:
    """The file's recorded info for a download: its stored size is checked every time, its
    sha256 at most once per CURATOR_DOWNLOAD_VERIFY_SECONDS in each process (a full read of
    the file: a 1-byte range must not cost one). TamperedFileError when either differs."""
    info = version.file_info(name)
    if info is None:
        raise FileNotFoundError(name)
    try:
        size = default_storage.size(info["name"])
    except (FileNotFoundError, OSError):
        raise TamperedFileError(version, name, info["sha256"], None) from None
    if info.get("size") is not None and size != info["size"]:
        raise TamperedFileError(version, name, info["sha256"], f"of a file of {size} bytes")
    key = f"curator:verified:{info['name']}:{info['sha256']}"
    if cache.get(key) is None:
        verify_file(version, name)
        if settings.CURATOR_DOWNLOAD_VERIFY_SECONDS > 0:
            cache.set(key, True, settings.CURATOR_DOWNLOAD_VERIFY_SECONDS)
    return info


def read_example_line(
    version: DatasetVersion, *, split: str, offset: int, length: int, sha256: str
) -> bytes | None:
    """One exported line of a built version, checked against its recorded sha256.

    None when the version's data files are gone or the bytes there are not that line.
    """
    info = version.file_info(f"{split}.jsonl")
    if info is None or not version.is_built:
        return None
    try:
        line = read_range(info["name"], offset, length)
    except (FileNotFoundError, OSError):
        return None
    return line if hashlib.sha256(line).hexdigest() == sha256 else None


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
    """The `manage.py snapshot --json` contract (DESIGN.md), plus the merged duplicates."""

    def path_of(name: str) -> str:
        try:
            return default_storage.path(name)
        except NotImplementedError:  # remote storage: the storage name is the address
            return name

    return {
        "version": version.number,
        "format": version.format,
        "status": version.status,
        "examples": version.examples,
        "train": version.train_examples,
        "validation": version.validation_examples,
        "duplicates_merged": version.duplicates_merged,
        "files": {
            name: {"path": path_of(info["name"]), "sha256": info["sha256"], "size": info["size"]}
            for name, info in version.available_files()
        },
    }
