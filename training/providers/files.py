"""Each provider gets the training file it accepts, converted from the version's OpenAI-shaped
JSONL line by line, by that provider's published rules.

A version is exported once, in OpenAI's chat (or preference) format. Together and Fireworks
take the same shape with fewer fields, so where a field has a meaning-preserving counterpart
it is mapped (``developer`` → ``system``: OpenAI's renamed system role) or dropped (the
top-level ``parallel_tool_calls``: a sampling switch, not training data); where it has none
the whole file is refused, naming the line. A preference line whose chosen or rejected output
is not exactly one non-empty assistant message is left out with its reason.

Rules followed (their sources, read 2026-12):
- Together: docs.together.ai/docs/fine-tuning-data-preparation — conversational lines hold
  ``messages`` with roles system, user, assistant, tool and an optional ``tools`` column;
  preference lines hold ``input.messages``, ``preferred_output`` and
  ``non_preferred_output``, each output exactly one assistant message.
- Fireworks: docs.fireworks.ai/fine-tuning/fine-tuning-models — ``messages`` with roles
  system, user and assistant; DPO lines in the same input/preferred/non-preferred shape.

Pure code: no Django, no SDK (each provider's own check of the written file, where its SDK
ships one, is the provider module's ``check_file``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

# Providers whose files are converted; the others take the version's lines as they are.
ROLES = {
    "together": frozenset({"system", "user", "assistant", "tool"}),
    "fireworks": frozenset({"system", "user", "assistant"}),
}
LABELS = {"together": "Together AI", "fireworks": "Fireworks AI"}
# Top-level keys each provider's chat lines may carry besides ``messages``.
LINE_KEYS = {"together": frozenset({"messages", "tools"}), "fireworks": frozenset({"messages"})}
# Keys dropped on the way, with why (a dropped key must change nothing the model learns).
DROPPED = {"parallel_tool_calls": "a sampling switch, not training data"}
# Problems beyond this many are counted, not listed: the first ones say what to fix.
MAX_LISTED = 20


class FileRefused(ValueError):
    """The file cannot be given to the provider as it is; ``problems`` name the lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class Conversion:
    """What converting one file did: lines written, fields mapped, lines left out (why)."""

    name: str
    written: int = 0
    mapped: Counter[str] = field(default_factory=Counter)
    excluded: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "lines": self.written,
            "mapped": dict(self.mapped),
            "excluded": [{"line": line, "reason": reason} for line, reason in self.excluded],
        }


def converts(kind: str) -> bool:
    return kind in ROLES


class _Unmappable(Exception):
    pass


class _Excluded(Exception):
    pass


def _messages(kind: str, messages: Any, conversion: Conversion, where: str) -> list[Any]:
    if not isinstance(messages, list) or not messages:
        raise _Unmappable(f"{where} is not a non-empty list of messages")
    out = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _Unmappable(f"{where}[{index}] is not a message object")
        role = message.get("role")
        if role == "developer":
            message = {**message, "role": "system"}
            conversion.mapped["developer → system"] += 1
            role = "system"
        if role not in ROLES[kind]:
            raise _Unmappable(
                f"{where}[{index}] has role {role!r}; {LABELS[kind]} takes "
                f"{', '.join(sorted(ROLES[kind]))} and nothing maps {role!r} onto them"
            )
        if kind == "fireworks" and message.get("tool_calls"):
            raise _Unmappable(
                f"{where}[{index}] calls tools; {LABELS[kind]}'s chat format has no tool calls"
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise _Unmappable(
                f"{where}[{index}] has non-text content; {LABELS[kind]} trains on text"
            )
        out.append(message)
    return out


def _drop(record: dict[str, Any], conversion: Conversion) -> dict[str, Any]:
    kept = dict(record)
    for key in DROPPED:
        if key in kept:
            del kept[key]
            conversion.mapped[f"{key} dropped"] += 1
    return kept


def _output(value: Any, which: str) -> list[dict[str, Any]]:
    """A preference output: exactly one assistant message with text (Together's rule)."""
    if not isinstance(value, list) or len(value) != 1:
        count = len(value) if isinstance(value, list) else 0
        raise _Excluded(f"{which} holds {count} messages; exactly one assistant message is taken")
    message = value[0]
    if not isinstance(message, dict) or message.get("role") != "assistant":
        raise _Excluded(f"{which} is not an assistant message")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise _Excluded(f"{which} is an empty assistant message")
    return [{"role": "assistant", "content": content}]


def convert_record(
    kind: str, record: Any, *, preference: bool, conversion: Conversion
) -> dict[str, Any]:
    """One line for ``kind``; raises _Unmappable (refuse the file) or _Excluded (skip it)."""
    if not isinstance(record, dict):
        raise _Unmappable("is not a JSON object")
    if preference:
        given = record.get("input")
        if not isinstance(given, dict):
            raise _Unmappable("has no input object")
        given = _drop(given, conversion)
        extra = set(given) - LINE_KEYS[kind]
        if extra:
            raise _Unmappable(
                f"input has {', '.join(sorted(extra))}, which {LABELS[kind]} does not take"
            )
        converted_input = {
            **given,
            "messages": _messages(kind, given.get("messages"), conversion, "input.messages"),
        }
        if kind == "fireworks" and "tools" in given:
            raise _Unmappable(f"input has tools; {LABELS[kind]}'s chat format has none")
        return {
            "input": converted_input,
            "preferred_output": _output(record.get("preferred_output"), "preferred_output"),
            "non_preferred_output": _output(
                record.get("non_preferred_output"), "non_preferred_output"
            ),
        }
    line = _drop(record, conversion)
    extra = set(line) - LINE_KEYS[kind]
    if extra:
        raise _Unmappable(
            f"has {', '.join(sorted(extra))}, which {LABELS[kind]}'s chat format does not take"
        )
    return {**line, "messages": _messages(kind, line.get("messages"), conversion, "messages")}


def convert_lines(
    kind: str, lines: Iterable[bytes], *, name: str, preference: bool, sink: BinaryIO | None
) -> Conversion:
    """Convert ``lines`` (the version file ``name``) for ``kind``, writing to ``sink`` when
    given. Problems are collected, not raised: the caller refuses the file if any."""
    conversion = Conversion(name=name)
    unmappable = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            converted = convert_record(kind, record, preference=preference, conversion=conversion)
        except json.JSONDecodeError as error:
            unmappable += 1
            if unmappable <= MAX_LISTED:
                conversion.problems.append(f"{name} line {number}: not JSON ({error.msg})")
            continue
        except _Unmappable as error:
            unmappable += 1
            if unmappable <= MAX_LISTED:
                conversion.problems.append(f"{name} line {number}: {error}")
            continue
        except _Excluded as error:
            conversion.excluded.append((number, str(error)))
            continue
        conversion.written += 1
        if sink is not None:
            sink.write(json.dumps(converted, ensure_ascii=False).encode() + b"\n")
    if unmappable > MAX_LISTED:
        conversion.problems.append(
            f"{name}: {unmappable - MAX_LISTED} more lines cannot be given to {LABELS[kind]}"
        )
    return conversion


def convert_file(
    kind: str, source: Path, target: Path, *, name: str, preference: bool
) -> Conversion:
    """Write ``source`` converted for ``kind`` to ``target``; FileRefused names the lines
    that have no mapping."""
    with source.open("rb") as lines, target.open("wb") as sink:
        conversion = convert_lines(kind, lines, name=name, preference=preference, sink=sink)
    if conversion.problems:
        raise FileRefused(conversion.problems)
    if conversion.written == 0:
        raise FileRefused(
            [
                f"{name}: no line can be given to {LABELS[kind]} ({len(conversion.excluded)} left out)"
            ]
        )
    return conversion
