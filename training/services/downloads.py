"""The trained adapter as one zip, streamed from storage (local runs and downloaded hosted
adapters alike): the PEFT files with the model card beside them, merged weights only when
asked (they are as large as the base model)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import Any

from django.core.files.storage import default_storage

from curation.models import AuditEvent
from curation.storage import ZipSink
from training.models import FineTuneJob

CHUNK = 1024 * 1024


def adapter_entries(job: FineTuneJob, *, merged: bool) -> list[tuple[str, str]]:
    """(storage name, name in the zip) of each file to send."""
    prefix = (job.artifacts or {}).get("adapter")
    if not prefix:
        return []
    entries = []
    for file in job.adapter_files:
        name = str(file["name"])
        relative = name.removeprefix(prefix).lstrip("/")
        if relative.startswith("merged/") and not merged:
            continue
        if relative.startswith(("archive/", "checkpoints/")):
            continue  # the provider's own archive and resume state are not the adapter
        entries.append((name, relative))
    return entries


def zip_name(job: FineTuneJob, *, merged: bool) -> str:
    kind = "adapter+merged" if merged else "adapter"
    return f"{job.dataset.slug}-v{job.version.number}-ft{job.pk}-{kind}.zip"


def adapter_zip_chunks(job: FineTuneJob, *, merged: bool) -> Iterator[bytes]:
    sink = ZipSink()
    stamp = (job.finished_at or job.created_at).timetuple()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, relative in adapter_entries(job, merged=merged):
            entry = zipfile.ZipInfo(relative, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with (
                archive.open(entry, "w", force_zip64=True) as target,
                default_storage.open(name, "rb") as source,
            ):
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    if len(sink.pending) >= CHUNK:
                        yield sink.take()
            yield sink.take()
    yield sink.take()


def record_adapter_download(
    *, job: FineTuneJob, user: Any, merged: bool, token: str | None
) -> None:
    AuditEvent.record(
        actor=user,
        action="finetune.adapter_download",
        obj=job,
        dataset=job.dataset,
        merged=merged,
        token=token,
    )
