"""What the Together and Fireworks shapes share: reading bodies, the adapter archive,
and the metrics the engine planned as events."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

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


def adapter_archive(job: SimJob) -> bytes:
    """A LoRA adapter as the providers hand it out: a gzip tar of the PEFT files. The
    weights are a stand-in; the config names the base model so a reader can check it."""
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
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(job.created_clock)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
