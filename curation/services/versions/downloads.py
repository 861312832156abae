"""The record of who downloaded which file of a version."""

from __future__ import annotations

from typing import Any

from curation.models import AccessToken, AuditEvent, DatasetVersion


def version_download_record(
    *, version: DatasetVersion, user: Any, file: str, token: AccessToken | None
) -> None:
    """Audit one download of a version's file (or its zip), naming the prefix of the access
    token a script fetched it with."""
    AuditEvent.record(
        actor=user,
        action="version.download",
        obj=version,
        dataset=version.dataset,
        file=file,
        token=token.prefix if token is not None else None,
    )
