"""README (model card) and training_summary.json for a trained adapter.

Torch-free, so the web process can render a card from a stored summary too. Dataset names and
notes are user text: YAML values are written as JSON strings and Markdown table cells are
escaped, so a name cannot break the front matter or the tables.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SUMMARY_FILE = "training_summary.json"
CARD_FILE = "README.md"

_LIBRARIES = ("torch", "transformers", "peft", "accelerate", "tokenizers")


def library_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, list | tuple):
        text = ", ".join(str(item) for item in value)
    else:
        text = str(value)
    text = " ".join(text.split())
    # Pipes would split cells; the rest could become HTML, code or links in a renderer.
    for char in ("\\", "|", "`", "<", ">", "[", "]"):
        text = text.replace(char, "\\" + char)
    return text


def _table(header: tuple[str, str], rows: Mapping[str, Any]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| {_cell(key)} | {_cell(value)} |" for key, value in rows.items()]
    return lines


def render_model_card(
    *,
    base_model: str,
    dataset_info: Mapping[str, Any],
    lora: Mapping[str, Any],
    train: Mapping[str, Any],
    metrics: Mapping[str, Any],
    environment: Mapping[str, Any] | None = None,
) -> str:
    dataset = dataset_info.get("dataset")
    version = dataset_info.get("version")
    digests = dataset_info.get("sha256") or {}
    tags = ["lora", "peft", "curator"]
    front = [
        "---",
        f"base_model: {json.dumps(base_model)}",
        "library_name: peft",
        "pipeline_tag: text-generation",
        f"tags: {json.dumps(tags)}",
    ]
    if dataset is not None:
        front.append(f"datasets: {json.dumps([str(dataset)])}")
    front.append("---")

    title = f"LoRA adapter for {_cell(base_model)}"
    lines = [*front, "", f"# {title}", ""]
    source = f"dataset **{_cell(dataset)}**" if dataset is not None else "a Curator dataset"
    if version is not None:
        source += f", version **{_cell(version)}**"
    lines += [f"Fine-tuned with Curator's local LoRA trainer on {source}.", ""]

    lines += ["## Data", ""]
    other = {
        key: value
        for key, value in dataset_info.items()
        if key not in ("dataset", "version", "sha256") and not isinstance(value, dict | list)
    }
    if digests:
        lines += _table(("file", "sha256"), digests)
        lines.append("")
    if other:
        lines += _table(("field", "value"), other)
        lines.append("")
    if not digests and not other:
        lines += ["No dataset details were recorded.", ""]

    lines += ["## Hyperparameters", ""]
    settings = {f"lora.{key}": value for key, value in lora.items()}
    settings.update({f"train.{key}": value for key, value in train.items()})
    lines += [*_table(("setting", "value"), settings), ""]

    lines += ["## Results", ""]
    lines += [*_table(("metric", "value"), metrics), ""]

    if environment:
        lines += ["## Environment", ""]
        lines += [*_table(("component", "version"), environment), ""]

    lines += [
        "## Use",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f"base = AutoModelForCausalLM.from_pretrained({json.dumps(base_model)})",
        'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
        'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
        "```",
        "",
    ]
    return "\n".join(lines)


def write_model_card(
    *,
    output_dir: str | os.PathLike[str],
    base_model: str,
    dataset_info: Mapping[str, Any],
    lora: Mapping[str, Any],
    train: Mapping[str, Any],
    metrics: Mapping[str, Any],
    environment: Mapping[str, Any] | None = None,
) -> Path:
    path = Path(output_dir) / CARD_FILE
    text = render_model_card(
        base_model=base_model,
        dataset_info=dataset_info,
        lora=lora,
        train=train,
        metrics=metrics,
        environment=environment,
    )
    path.write_text(text, encoding="utf-8")
    return path


def write_training_summary(
    *, output_dir: str | os.PathLike[str], summary: Mapping[str, Any]
) -> Path:
    """Write training_summary.json (adds ``created_at``); the file the job reads back."""
    path = Path(output_dir) / SUMMARY_FILE
    document = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), **summary}
    # Write then rename: a reader never sees half a summary.
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=2, sort_keys=True, default=str), "utf-8")
    partial.replace(path)
    return path
