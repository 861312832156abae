"""What a hosted provider hands back after training, kept in Curator's storage: the
adapter (Together serves it as a compressed tar) unpacked beside the archive, so it can be
evaluated locally and outlives the provider's copy; and where the model is served."""

from __future__ import annotations

import logging
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import zstandard

from training.models import FineTuneJob
from training.providers import Provider, ProviderError, RemoteJob
from training.services.local_artifacts import adapter_prefix, save_tree

logger = logging.getLogger(__name__)

# Members of an adapter archive worth unpacking (PEFT files, tokenizer, model card).
MAX_MEMBER_BYTES = 8 * 1024**3
# The first bytes of a Zstandard frame (RFC 8878, 3.1.1).
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _unpack(archive: Path, target: Path) -> bool:
    """Unpack a tar (gzip, bzip2, xz, or zstd as Together serves it: ``.tar.zst``) safely
    into ``target``; False if it is not an archive we can read."""
    try:
        with archive.open("rb") as raw:
            zstd = raw.read(4) == ZSTD_MAGIC
        if zstd:
            with archive.open("rb") as raw:
                reader = zstandard.ZstdDecompressor().stream_reader(raw)
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for member in tar:
                        if member.isfile() and member.size <= MAX_MEMBER_BYTES:
                            # The "data" filter refuses absolute paths, links out, devices.
                            tar.extract(member, target, filter="data")
            return True
        with tarfile.open(archive) as tar:
            members = [
                member
                for member in tar.getmembers()
                if member.isfile() and member.size <= MAX_MEMBER_BYTES
            ]
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError, zstandard.ZstdError) as error:
        logger.info("adapter archive %s not unpacked: %s", archive.name, error)
        return False
    return True


def store_remote_adapter(*, job: FineTuneJob, provider: Provider, remote: RemoteJob) -> None:
    """Download the trained adapter into storage once; a failure is noted on the job, not
    turned into a failed training (the provider keeps its copy, Retry is not needed)."""
    if (job.artifacts or {}).get("adapter"):
        return
    prefix = adapter_prefix(job)
    with tempfile.TemporaryDirectory(prefix="curator-adapter-") as folder:
        try:
            archive = provider.download_adapter(remote, Path(folder) / "download")
        except ProviderError as error:
            logger.warning("fine-tune %s: adapter download failed: %s", job.pk, error)
            job.beat(last_problem=f"The trained adapter could not be downloaded: {error}")
            return
        if archive is None:
            return
        unpacked = Path(folder) / "adapter"
        files = save_tree(archive.parent, f"{prefix}/archive")
        if _unpack(archive, unpacked):
            files += save_tree(unpacked, prefix)
    artifacts: dict[str, Any] = {
        **(job.artifacts or {}),
        "adapter": prefix,
        "files": files,
        "archive": f"{prefix}/archive/{archive.name}",
        "source": job.provider_label or job.provider,
    }
    FineTuneJob.objects.filter(pk=job.pk).update(artifacts=artifacts)
    job.artifacts = artifacts


def note_deployment(*, job: FineTuneJob, remote: RemoteJob) -> None:
    if remote.deployment and (job.artifacts or {}).get("deployment") != remote.deployment:
        artifacts = {**(job.artifacts or {}), "deployment": remote.deployment}
        FineTuneJob.objects.filter(pk=job.pk).update(artifacts=artifacts)
        job.artifacts = artifacts
