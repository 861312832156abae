"""A version's files on their way to training: the launch's error type and the verified copy
every worker (remote upload, local GPU job) reads the files through."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from curation.models import DatasetVersion
from curation.services.versions.files import TamperedFileError, record_tampered
from curation.storage import open_stream


class LaunchError(ValueError):
    """The launch cannot go ahead; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


COPY_CHUNK = 1024 * 1024


def copy_verified(
    version: DatasetVersion, name: str, info: dict[str, Any], target: Path, *, outcome: str
) -> None:
    """Copy the version's stored file ``name`` (its recorded ``info``) to ``target``,
    hashing the bytes as they are written, so what the worker hands on is exactly what
    was checked; a mismatch (or a vanished file) is audited and raised as a LaunchError
    ending with ``outcome`` (what did not happen because of it)."""
    digest = hashlib.sha256()
    try:
        with open_stream(info["name"]) as source, target.open("wb") as sink:
            for chunk in iter(lambda: source.read(COPY_CHUNK), b""):
                digest.update(chunk)
                sink.write(chunk)
        actual: str | None = digest.hexdigest()
    except FileNotFoundError:
        actual = None
    if actual != info["sha256"]:
        error = TamperedFileError(version, name, info["sha256"], actual)
        record_tampered(error=error, user=None)
        raise LaunchError([f"{error} {outcome}"])
