"""Checks an uploaded training file against OpenAI's chat fine-tuning format.

The simulator runs these while a job is in ``validating_files`` and fails the job with the
first problem found, phrased the way OpenAI phrases it (naming the line), so that the
app's handling of invalid files can be exercised without the real service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MIN_EXAMPLES = 10
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class TrainingFileError(ValueError):
    """The file breaks a format rule; ``str(exc)`` names the line (and message) at fault."""


@dataclass(frozen=True)
class FileSummary:
    examples: int
    tokens: int


def estimate_tokens(text: str) -> int:
    # Roughly four characters a token is close enough for simulated billing; the app
    # itself counts with tiktoken, and the simulator must not depend on its BPE files.
    return max(1, (len(text) + 3) // 4)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _check_message(message: Any, *, where: str) -> int:
    if not isinstance(message, dict):
        raise TrainingFileError(f"{where}: each message must be a JSON object")
    role = message.get("role")
    if role not in ROLES:
        raise TrainingFileError(
            f"{where}: unrecognized role {role!r}; use system, user, assistant or tool"
        )
    content = message.get("content")
    has_call = bool(message.get("tool_calls") or message.get("function_call"))
    if content is None and not (role == "assistant" and has_call):
        raise TrainingFileError(f"{where}: missing 'content'")
    if content is not None and not isinstance(content, str | list):
        raise TrainingFileError(f"{where}: 'content' must be a string or a list of parts")
    weight = message.get("weight")
    if weight is not None and weight not in (0, 1):
        raise TrainingFileError(f"{where}: 'weight' must be 0 or 1")
    extra = json.dumps(message.get("tool_calls") or message.get("function_call") or "")
    return estimate_tokens(_content_text(content)) + estimate_tokens(extra) + 4


def _preference_tokens(record: dict[str, Any], where: str) -> int:
    """A preference (DPO) line: input.messages, then preferred_output and
    non_preferred_output, each a non-empty list of assistant messages."""
    given = record.get("input")
    messages = given.get("messages") if isinstance(given, dict) else None
    if not isinstance(messages, list) or not messages:
        raise TrainingFileError(
            f"Invalid file format. {where}: missing 'input.messages' (a non-empty list); "
            "a preference (DPO) job needs preference-format lines"
        )
    tokens = 3
    for index, message in enumerate(messages, start=1):
        tokens += _check_message(message, where=f"{where}, input message {index}")
    for key in ("preferred_output", "non_preferred_output"):
        reply = record.get(key)
        if not isinstance(reply, list) or not reply:
            raise TrainingFileError(f"{where}: missing '{key}' (a non-empty list of messages)")
        for index, message in enumerate(reply, start=1):
            tokens += _check_message(message, where=f"{where}, {key} message {index}")
            if message.get("role") != "assistant":
                raise TrainingFileError(f"{where}, {key} message {index}: must be an assistant")
    return tokens


def summarize_training_file(
    data: bytes,
    *,
    min_examples: int = MIN_EXAMPLES,
    label: str = "Training file",
    method: str = "supervised",
) -> FileSummary:
    """Validate ``data`` as chat-format JSONL (or preference-format for ``method="dpo"``)
    and count its examples and tokens."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrainingFileError(
            f"Invalid file format. The file is not UTF-8 (byte {exc.start})"
        ) from None
    examples = 0
    tokens = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"Line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TrainingFileError(
                f"Invalid file format. {where}: invalid JSON ({exc.msg})"
            ) from None
        if not isinstance(record, dict):
            raise TrainingFileError(
                f"Invalid file format. {where}: each line must be a JSON object"
            )
        if method == "dpo":
            try:
                tokens += _preference_tokens(record, where)
            except TrainingFileError as exc:
                message = str(exc)
                if not message.startswith("Invalid file format."):
                    message = f"Invalid file format. {message}"
                raise TrainingFileError(message) from None
            examples += 1
            continue
        messages = record.get("messages")
        if not isinstance(messages, list) or not messages:
            raise TrainingFileError(
                f"Invalid file format. {where}: missing 'messages' (a non-empty list)"
            )
        example_tokens = 3
        for index, message in enumerate(messages, start=1):
            try:
                example_tokens += _check_message(message, where=f"{where}, message {index}")
            except TrainingFileError as exc:
                raise TrainingFileError(f"Invalid file format. {exc}") from None
        if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
            raise TrainingFileError(
                f"Invalid file format. {where}: no assistant message; "
                "each example needs at least one to learn from"
            )
        examples += 1
        tokens += example_tokens
    if examples < min_examples:
        raise TrainingFileError(
            f"{label} has {examples} example(s), but fine-tuning requires at least {min_examples}"
        )
    return FileSummary(examples=examples, tokens=tokens)
