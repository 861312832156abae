"""What a local fine-tune reads and leaves: the snapshot files it trains on (checked
against their recorded sha256), the adapter, checkpoints and merged weights it writes to
the default storage, and the sample replies shown on the job page.

Torch-free: the engine is passed in by the GPU job that imported it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from training.hyperparameters import settings_record
from training.local import TRAINER_STATE, LoraSettings, TrainResult, TrainSettings
from training.models import FineTuneCheckpoint, FineTuneJob
from training.services.version_files import LaunchError, copy_verified

logger = logging.getLogger(__name__)

DATA_FILES = ("train.jsonl", "validation.jsonl")
MAX_SAMPLE_CHARS = 4000


def storable(text: str, limit: int | None = None) -> str:
    """Text fit for a Postgres text or jsonb value, which refuse NUL characters (an
    undertrained model can well generate one)."""
    text = text.replace("\x00", "\ufffd")
    return text[:limit] if limit else text


def adapter_prefix(job: FineTuneJob) -> str:
    """Where a job's adapter, checkpoints and merged weights go in the default storage."""
    root = str(getattr(settings, "CURATOR_ADAPTER_PREFIX", "adapters")).strip("/")
    return f"{root}/{job.dataset.slug}/v{job.version.number}/{job.uid}"


# -- files ---------------------------------------------------------------------------------------


def materialize(*, job: FineTuneJob, folder: Path) -> dict[str, Path]:
    """The version's data files copied from storage under their own names, each checked
    against the sha256 recorded at build (the model card names those digests)."""
    version = job.version
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in DATA_FILES:
        info = version.file_info(name)
        if info is None:
            if name == "train.jsonl":
                raise LaunchError([f"{version.download_name(name)} is missing from the version"])
            continue
        if name == "validation.jsonl" and not version.validation_examples:
            continue
        path = folder / name
        copy_verified(version, name, info, path, outcome="Nothing was trained.")
        paths[name] = path
    return paths


def dataset_info(job: FineTuneJob) -> dict[str, Any]:
    """What the model card and training summary say about the data."""
    version = job.version
    return {
        "dataset": version.dataset.name,
        "dataset_slug": version.dataset.slug,
        "version": version.number,
        "sha256": {
            name: info["sha256"]
            for name in DATA_FILES
            if (info := version.file_info(name)) is not None
        },
        "train_examples": version.train_examples,
        "validation_examples": version.validation_examples,
        "curator_job": str(job.uid),
    }


def save_tree(local: Path, prefix: str, *, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Copy every file under ``local`` to storage under ``prefix``; (name, size) of each."""
    stored = []
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        relative = path.relative_to(local)
        if relative.parts[0] in skip:
            continue
        name = f"{prefix}/{relative.as_posix()}"
        # Storage would pick a fresh name beside an existing file; a rerun replaces it.
        if default_storage.exists(name):
            default_storage.delete(name)
        with path.open("rb") as handle:
            saved = default_storage.save(name, File(handle, name=path.name))
        stored.append({"name": saved, "size": path.stat().st_size})
    return stored


def delete_tree(prefix: str) -> None:
    try:
        folders, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    for name in folders:
        delete_tree(f"{prefix}/{name}")


def fetch_tree(prefix: str, local: Path) -> None:
    """Copy every file under ``prefix`` in storage to ``local``."""
    folders, files = default_storage.listdir(prefix)
    local.mkdir(parents=True, exist_ok=True)
    for name in files:
        with (
            default_storage.open(f"{prefix}/{name}", "rb") as source,
            (local / name).open("wb") as sink,
        ):
            for chunk in iter(lambda: source.read(1024 * 1024), b""):
                sink.write(chunk)
    for name in folders:
        fetch_tree(f"{prefix}/{name}", local / name)


def resolvable_checkpoint(job: FineTuneJob) -> FineTuneCheckpoint | None:
    """The latest checkpoint of the job a retry can continue from (it holds the trainer's
    state, not only the adapter)."""
    for checkpoint in job.checkpoints.order_by("-step"):
        where = checkpoint.fine_tuned_model_checkpoint
        if where and default_storage.exists(f"{where}/{TRAINER_STATE}"):
            return checkpoint
    return None


def fetch_resume_checkpoint(*, job: FineTuneJob, folder: Path) -> Path | None:
    """The resumable checkpoint copied from storage to ``folder``, or None."""
    checkpoint = resolvable_checkpoint(job)
    if checkpoint is None:
        return None
    fetch_tree(checkpoint.fine_tuned_model_checkpoint, folder)
    return folder


def pair_samples(
    prompts: list[dict[str, Any]], replies: dict[str, list[str]], *, source: str
) -> list[dict[str, Any]]:
    """The sample prompts with the dataset's reference, the base model's reply ("before")
    and the fine-tuned one ("after"), as the job page shows them."""
    after = replies.get("after") or []
    before = replies.get("before") or []
    return [
        {
            "source": source,
            "prompt": sample["prompt"],
            "reference": storable(sample["reference"], MAX_SAMPLE_CHARS),
            "generated": storable(after[index], MAX_SAMPLE_CHARS),
            "before": storable(before[index], MAX_SAMPLE_CHARS) if index < len(before) else None,
        }
        for index, sample in enumerate(prompts)
        if index < len(after)
    ]


def store_adapter(*, job: FineTuneJob, result: TrainResult) -> dict[str, Any]:
    """Every file of the trained adapter (model card, summary, tokenizer, merged weights
    when asked) to storage; checkpoints went up as they were written."""
    assert result.adapter_dir is not None
    prefix = adapter_prefix(job)
    files = save_tree(result.adapter_dir, prefix, skip=("checkpoints",))
    return {
        "adapter": prefix,
        "files": files,
        "merged": f"{prefix}/merged" if result.merged_dir is not None else None,
        "model_card": f"{prefix}/README.md",
        "device": result.device,
        "precision": result.precision,
        "seconds": round(result.seconds, 1),
        "train_loss": result.train_loss,
        "valid_loss": result.valid_loss,
    }


def resolved_hyperparameters(
    *, lora: LoraSettings, train: TrainSettings, merge: bool, result: TrainResult
) -> dict[str, Any]:
    return {
        "n_epochs": train.epochs,
        "batch_size": train.batch_size,
        **settings_record(lora, train, bf16=result.precision == "bf16", merge=merge),
        "seed": train.seed,
    }


# -- samples -------------------------------------------------------------------------------------


def sample_prompts(path: Path, *, count: int) -> list[dict[str, Any]]:
    """Up to ``count`` conversations of a snapshot file cut before their last assistant
    reply: the prompt to answer and the reference answer."""
    samples: list[dict[str, Any]] = []
    if count <= 0:
        return samples
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            messages = record.get("messages") if isinstance(record, dict) else None
            if not isinstance(messages, list):
                continue
            last = next(
                (
                    index
                    for index in range(len(messages) - 1, -1, -1)
                    if isinstance(messages[index], dict)
                    and messages[index].get("role") == "assistant"
                    and isinstance(messages[index].get("content"), str)
                    and messages[index]["content"].strip()
                ),
                None,
            )
            if last is None or last == 0:
                continue
            prompt = [
                {key: value for key, value in message.items() if key != "weight"}
                for message in messages[:last]
                if isinstance(message, dict)
            ]
            if not any(message.get("role") == "user" for message in prompt):
                continue
            samples.append({"prompt": prompt, "reference": messages[last]["content"]})
            if len(samples) >= count:
                break
    return samples
