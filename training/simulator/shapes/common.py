"""What the Together and Fireworks shapes share: reading bodies, the adapter archive,
and the metrics the engine planned as events."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import zstandard

from training.simulator.endpoints import Request, parse_multipart
from training.simulator.records import SimJob


def form(request: Request) -> dict[str, Any]:
    """A JSON, urlencoded or multipart body as a flat dict of its fields."""
    content_type = request.headers.get("content-type", "") or ""
    if content_type.startswith("multipart/form-data"):
        return {
            name: part.data.decode("utf-8", "replace")
            for name, part in parse_multipart(content_type, request.body).items()
            if part.filename is None
        }
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(request.body.decode("utf-8", "replace")))
    return request.json()


def iso(epoch: float | int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def metric_rows(job: SimJob) -> list[dict[str, Any]]:
    """Per-step metrics reported so far (the engine plans them as metrics events)."""
    return [
        dict(event["data"])
        for event in job.events
        if event.get("type") == "metrics" and isinstance(event.get("data"), dict)
    ]


def adapter_files(job: SimJob) -> dict[str, bytes]:
    """A LoRA adapter's PEFT files. The weights are a stand-in; the config names the base
    model so a reader can check it."""
    config = {
        "base_model_name_or_path": job.model,
        "peft_type": "LORA",
        "r": int(job.extra.get("lora_r") or 8),
        "lora_alpha": int(job.extra.get("lora_alpha") or 16),
        "target_modules": "all-linear",
        "task_type": "CAUSAL_LM",
    }
    files = {
        "adapter_config.json": json.dumps(config, indent=2).encode(),
        "adapter_model.safetensors": b"simulated adapter weights for " + job.id.encode(),
        "README.md": f"# {job.fine_tuned_model}\n\nTrained by the Curator simulator.\n".encode(),
    }
    return files


def full_model_files(job: SimJob) -> dict[str, bytes]:
    """A full (or merged) model's files: a config naming its base and stand-in weights."""
    config = {"_name_or_path": job.model, "architectures": ["LlamaForCausalLM"]}
    return {
        "config.json": json.dumps(config, indent=2).encode(),
        "model.safetensors": b"simulated model weights for " + job.id.encode(),
        "README.md": f"# {job.fine_tuned_model}\n\nTrained by the Curator simulator.\n".encode(),
    }


def tar_archive(files: dict[str, bytes], *, mtime: int, compression: str = "gz") -> bytes:
    """``files`` as a tar, gzip- (``"gz"``) or zstd-compressed (``"zst"``, Together's)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = mtime
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    if compression == "zst":
        return zstandard.ZstdCompressor().compress(raw)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=mtime) as packed:
        packed.write(raw)
    return out.getvalue()
