"""Snapshot JSONL (OpenAI chat format) to token ids, loss labels and packed rows.

Labels come from character spans of the rendered chat template, mapped to tokens through the
tokenizer's offsets, so the ids are exactly those of tokenizing the whole rendered conversation
once (what the model sees at inference) while only assistant text is trained. Three ways to
find the spans, best first:

1. ``{% generation %}`` blocks, when the template has them: the template author says which
   tokens the assistant produces (via ``return_assistant_tokens_mask``).
2. Prefix rendering: the template rendered up to a message with the generation prompt, and
   up to and including it; the difference is what the model must generate for that turn.
3. When the template renders history differently from the live turn (templates that drop past
   reasoning, for instance), every trained assistant turn becomes its own example, rendered as
   the last turn, the way generation would see it.

This module imports no torch: tensors are built by the engine.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jinja2

IGNORE_INDEX = -100

_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


class DataError(ValueError):
    """A snapshot file cannot be read; names the file and line."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{Path(path).name} line {line}" if line is not None else Path(path).name
        super().__init__(f"{where}: {reason}")


class TokenizerError(TypeError):
    """The tokenizer cannot be used for training at all (no template, no offsets)."""


class TemplateRenderError(ValueError):
    """The chat template refused or failed on one conversation."""


# What a chat template raises on a conversation it does not accept: jinja2's own errors
# (including raise_exception()), and what transformers or filters raise on odd input.
_RENDER_ERRORS = (jinja2.TemplateError, ValueError, TypeError, KeyError)


class ChatTokenizer(Protocol):
    """The part of a transformers tokenizer this module uses."""

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...

    def __call__(self, text: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    # Same length as input_ids; IGNORE_INDEX where the token is not trained.
    labels: list[int]
    source_line: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass
class DataStats:
    conversations: int = 0
    examples: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    truncated: int = 0
    # Conversations with nothing left to train (all weight 0, or cut off by truncation).
    skipped: int = 0
    # Per-strategy counts, so a run can say how its labels were found.
    strategies: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "examples": self.examples,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "truncated": self.truncated,
            "skipped": self.skipped,
            "strategies": dict(self.strategies),
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class PackedRow:
    """One training row: whole examples back to back, each with positions from 0.

    ``targets`` are already shifted (``targets[t]`` is the label of token ``t + 1`` of the
    same example) so a loss over a packed row never predicts across an example boundary.
    """

    input_ids: list[int]
    targets: list[int]
    position_ids: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def trained_tokens(self) -> int:
        return sum(1 for target in self.targets if target != IGNORE_INDEX)


# Reading -------------------------------------------------------------------------------------


def read_chat_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)``; a malformed line is a DataError (snapshots are checked
    when built, so a bad line here means the file is not the snapshot it claims to be)."""
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(path, number, f"invalid JSON ({exc.msg})") from exc
            messages = record.get("messages") if isinstance(record, dict) else None
            if not isinstance(messages, list) or not messages:
                raise DataError(path, number, '"messages" must be a non-empty list')
            for index, message in enumerate(messages):
                if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                    raise DataError(path, number, f"messages[{index}] needs a string role")
                weight = message.get("weight", 1)
                if weight not in (0, 1):
                    raise DataError(path, number, f"messages[{index}].weight must be 0 or 1")
            tools = record.get("tools")
            if tools is not None and not isinstance(tools, list):
                raise DataError(path, number, '"tools" must be a list')
            yield number, record


def normalize_message(message: dict[str, Any]) -> dict[str, Any]:
    """OpenAI message to the shape Hugging Face chat templates expect (no ``weight``, no
    None values, text parts joined, tool-call arguments as objects)."""
    out = {key: value for key, value in message.items() if key != "weight" and value is not None}
    content = out.get("content")
    if isinstance(content, list):
        # Text-only multi-part content; templates for text models expect one string.
        out["content"] = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    calls = out.get("tool_calls")
    if isinstance(calls, list):
        out["tool_calls"] = [_normalize_tool_call(call) for call in calls]
    return out


def _normalize_tool_call(call: Any) -> Any:
    # OpenAI sends arguments as a JSON string; templates `tojson` them, which would quote
    # the string a second time.
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    function = dict(call["function"])
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            function["arguments"] = parsed
    return {**call, "function": function}


# Labelling -----------------------------------------------------------------------------------


class _TemplateMismatch(Exception):
    """The template's output for a prefix is not a prefix of its output for the whole."""


def _render(
    tokenizer: ChatTokenizer,
    messages: Sequence[dict[str, Any]],
    tools: list[Any] | None,
    *,
    generation_prompt: bool,
) -> str:
    if not messages:
        return ""
    try:
        text = tokenizer.apply_chat_template(
            list(messages), tools=tools, tokenize=False, add_generation_prompt=generation_prompt
        )
    except _RENDER_ERRORS as exc:
        raise TemplateRenderError(f"chat template: {exc}") from exc
    if not isinstance(text, str):
        raise TokenizerError("the chat template did not render to a string")
    return text


def _turn_span(
    tokenizer: ChatTokenizer,
    messages: Sequence[dict[str, Any]],
    index: int,
    tools: list[Any] | None,
) -> tuple[str, int, int]:
    """Text up to and including assistant message ``index``, and that turn's span in it."""
    prompt = _render(tokenizer, messages[:index], tools, generation_prompt=True)
    upto = _render(tokenizer, messages[: index + 1], tools, generation_prompt=False)
    # Templates whose generation prompt differs from the rendered header (e.g. an empty
    # reasoning block) still share a prefix; the differing header is then trained too.
    start = _common_prefix_length(prompt, upto)
    return upto, start, len(upto)


def _common_prefix_length(a: str, b: str) -> int:
    if b.startswith(a):
        return len(a)
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


def _tokens_in_spans(
    tokenizer: ChatTokenizer, text: str, spans: Sequence[tuple[int, int]]
) -> tuple[list[int], list[bool]]:
    """Tokenize ``text`` whole; a token is trained when its characters overlap a span."""
    try:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except NotImplementedError as exc:
        raise TokenizerError("training needs a fast tokenizer (one with offset mappings)") from exc
    ids: list[int] = list(encoded["input_ids"])
    offsets: list[tuple[int, int]] = [tuple(pair) for pair in encoded["offset_mapping"]]
    ordered = sorted(spans)
    trained = [False] * len(ids)
    cursor = 0
    for position, (start, end) in enumerate(offsets):
        while cursor < len(ordered) and ordered[cursor][1] <= start:
            cursor += 1
        if cursor == len(ordered):
            break
        span_start, span_end = ordered[cursor]
        # Zero-width tokens (some special tokens) count when they sit inside the span.
        if (start < span_end and end > span_start) or (start == end and span_start <= start):
            trained[position] = True
    return ids, trained


def _labels(ids: list[int], trained: list[bool]) -> list[int]:
    return [token if keep else IGNORE_INDEX for token, keep in zip(ids, trained, strict=True)]


def _runs(mask: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for position, value in enumerate([*mask, 0]):
        if value and start is None:
            start = position
        elif not value and start is not None:
            runs.append((start, position))
            start = None
    return runs


def _has_generation_blocks(tokenizer: ChatTokenizer, tools: list[Any] | None) -> bool:
    getter = getattr(tokenizer, "get_chat_template", None)
    try:
        template = getter(None, tools) if getter else getattr(tokenizer, "chat_template", None)
    except ValueError:
        return False
    return isinstance(template, str) and bool(_GENERATION_TAG.search(template))


def _by_generation_blocks(
    tokenizer: ChatTokenizer,
    messages: list[dict[str, Any]],
    weights: list[int],
    tools: list[Any] | None,
) -> tuple[list[int], list[bool]] | None:
    try:
        encoded = tokenizer.apply_chat_template(
            messages, tools=tools, return_dict=True, return_assistant_tokens_mask=True
        )
    except _RENDER_ERRORS as exc:
        raise TemplateRenderError(f"chat template: {exc}") from exc
    ids = list(encoded["input_ids"])
    runs = _runs(encoded["assistant_masks"])
    assistant = [i for i, message in enumerate(messages) if message["role"] == "assistant"]
    if len(runs) != len(assistant):
        # Blocks cannot be matched to messages one to one; let prefix rendering decide.
        return None
    trained = [False] * len(ids)
    for (start, end), index in zip(runs, assistant, strict=True):
        if weights[index]:
            trained[start:end] = [True] * (end - start)
    return ids, trained


def _by_prefixes(
    tokenizer: ChatTokenizer,
    messages: list[dict[str, Any]],
    weights: list[int],
    tools: list[Any] | None,
) -> tuple[list[int], list[bool]]:
    full = _render(tokenizer, messages, tools, generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        upto, start, end = _turn_span(tokenizer, messages, index, tools)
        if not full.startswith(upto):
            raise _TemplateMismatch
        if weights[index]:
            spans.append((start, end))
    return _tokens_in_spans(tokenizer, full, spans)


def tokenize_conversation(
    tokenizer: ChatTokenizer,
    record: dict[str, Any],
    *,
    max_seq_length: int,
    source_line: int = 0,
    stats: DataStats | None = None,
) -> list[TokenizedExample]:
    """Token ids and labels for one snapshot record (usually one example; more when the
    template forces one example per turn; none when nothing is left to train)."""
    stats = stats if stats is not None else DataStats()
    raw_messages: list[dict[str, Any]] = record["messages"]
    weights = [int(m.get("weight", 1)) if m.get("role") == "assistant" else 0 for m in raw_messages]
    messages = [normalize_message(m) for m in raw_messages]
    tools = record.get("tools") or None

    pieces: list[tuple[list[int], list[bool]]] = []
    strategy = "generation_blocks"
    found = None
    if _has_generation_blocks(tokenizer, tools):
        found = _by_generation_blocks(tokenizer, messages, weights, tools)
    if found is None:
        strategy = "prefix"
        try:
            found = _by_prefixes(tokenizer, messages, weights, tools)
        except _TemplateMismatch:
            strategy = "per_turn"
    if found is not None:
        pieces.append(found)
    else:
        for index, message in enumerate(messages):
            if message["role"] == "assistant" and weights[index]:
                upto, start, end = _turn_span(tokenizer, messages, index, tools)
                pieces.append(_tokens_in_spans(tokenizer, upto, [(start, end)]))
    stats.strategies[strategy] = stats.strategies.get(strategy, 0) + 1

    examples: list[TokenizedExample] = []
    for ids, trained in pieces:
        if len(ids) > max_seq_length:
            stats.truncated += 1
            ids, trained = ids[:max_seq_length], trained[:max_seq_length]
        example = TokenizedExample(ids, _labels(ids, trained), source_line)
        # One token alone cannot be a prediction target after the shift.
        if len(example) >= 2 and any(trained[1:]):
            examples.append(example)
    if not examples:
        stats.skipped += 1
    return examples


def load_examples(
    path: str | os.PathLike[str],
    tokenizer: ChatTokenizer,
    *,
    max_seq_length: int,
) -> tuple[list[TokenizedExample], DataStats]:
    """Tokenize a whole snapshot file. Template failures on a line are recorded in
    ``stats.problems`` (file and line) and that line is skipped; the rest still trains."""
    if not getattr(tokenizer, "chat_template", None):
        raise TokenizerError("the tokenizer has no chat template; set one on the base model")
    stats = DataStats()
    examples: list[TokenizedExample] = []
    for number, record in read_chat_jsonl(path):
        stats.conversations += 1
        try:
            found = tokenize_conversation(
                tokenizer, record, max_seq_length=max_seq_length, source_line=number, stats=stats
            )
        except TemplateRenderError as exc:
            stats.skipped += 1
            stats.problems.append(f"{Path(path).name} line {number}: {exc}")
            continue
        examples.extend(found)
    stats.examples = len(examples)
    stats.tokens = sum(len(example) for example in examples)
    stats.trained_tokens = sum(example.trained_tokens for example in examples)
    return examples, stats


# Packing -------------------------------------------------------------------------------------


def _shifted(labels: list[int]) -> list[int]:
    return [*labels[1:], IGNORE_INDEX]


def pack_examples(examples: Sequence[TokenizedExample], *, row_length: int) -> list[PackedRow]:
    """Best-fit-decreasing bin packing of whole examples into rows of at most ``row_length``.

    Whole examples (never split) keep every trained token's full context; best fit leaves
    only a few percent of each row empty on realistic length mixes.
    """
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]), reverse=True)
    members: list[list[int]] = []
    # (room left, row index), kept sorted so the tightest row that fits is found by bisect.
    free: list[tuple[int, int]] = []
    for index in order:
        size = len(examples[index])
        if size > row_length:
            raise ValueError(f"example of {size} tokens exceeds the row length {row_length}")
        slot = bisect.bisect_left(free, (size, -1))
        if slot < len(free):
            room, row = free.pop(slot)
        else:
            room, row = row_length, len(members)
            members.append([])
        members[row].append(index)
        if room - size > 0:
            bisect.insort(free, (room - size, row))
    return [_row([examples[i] for i in row]) for row in members]


def single_rows(examples: Sequence[TokenizedExample]) -> list[PackedRow]:
    """One example per row, for ``packing=False``."""
    return [_row([example]) for example in examples]


def _row(parts: Sequence[TokenizedExample]) -> PackedRow:
    input_ids: list[int] = []
    targets: list[int] = []
    position_ids: list[int] = []
    for example in parts:
        input_ids.extend(example.input_ids)
        targets.extend(_shifted(example.labels))
        position_ids.extend(range(len(example)))
    return PackedRow(input_ids, targets, position_ids)
