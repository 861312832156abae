"""Preference records (DPO pairs, KTO labels) in the shapes public tools write, normalized.

Every shape becomes one `Normalized` record: `messages` = the prompt then the chosen reply
(so supervised exports, token counts and the review page read it like any conversation),
`alternative` = the rejected reply, `reply_start` = where the final assistant turn begins;
or, for KTO, the reply with its boolean `label`. Shapes read:

- OpenAI preference JSONL: `input.messages` (+ `input.tools`), `preferred_output`,
  `non_preferred_output`.
- ShareGPT (LLaMA-Factory): `conversations` + `chosen`/`rejected` turn objects, or strings
  (MedicalGPT).
- Alpaca (LLaMA-Factory): `instruction`/`input` + `chosen`/`rejected` strings.
- TRL / Argilla: `prompt` + `chosen`/`rejected`, each a string or a message list (a reply
  that repeats the prompt has it removed); without `prompt`, the shared prefix is the prompt.
- Anthropic HH-RLHF: `chosen`/`rejected` transcripts ("\\n\\nHuman: … \\n\\nAssistant: …").
- Unranked: `prompt` + `responses` (two replies, no choice yet): reviewed side by side.
- KTO: `label` (TRL) or `kto_tag` (LLaMA-Factory), on prompt/completion, messages,
  conversations or instruction/output records.
"""

from __future__ import annotations

import re
from typing import Any

from curation.validation import (
    Normalized,
    RecordError,
    _check_message,
    _json_type,
    check_messages,
    normalize_alpaca,
    normalize_openai,
    normalize_sharegpt,
    sharegpt_tools,
)

PREFERENCE_FORMAT = "preference"
PAIR_KEYS = frozenset({"chosen", "rejected", "prompt", "instruction", "input", "system"})
_HH_TURN = re.compile(r"\n\n(Human|Assistant): ?")


def preference_kind(record: Any) -> str | None:
    """ "pair" or "label" when the record is preference data, else None."""
    if not isinstance(record, dict):
        return None
    if "preferred_output" in record or "non_preferred_output" in record:
        return "pair"
    if "chosen" in record and "rejected" in record:
        return "pair"
    if "prompt" in record and isinstance(record.get("responses"), list):
        return "pair"
    if "kto_tag" in record:
        return "label"
    if isinstance(record.get("label"), bool) and any(
        key in record for key in ("completion", "output", "messages", "conversations")
    ):
        return "label"
    return None


def normalize_preference(record: Any) -> Normalized:
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {_json_type(record)}")
    kind = preference_kind(record)
    if kind == "label":
        return _labelled(record)
    if kind is None:
        raise RecordError(
            "not a preference record: expected chosen/rejected, "
            "preferred_output/non_preferred_output, or a label/kto_tag"
        )
    if "preferred_output" in record or "non_preferred_output" in record:
        return _openai_pair(record)
    if "responses" in record and "chosen" not in record:
        return _unranked_pair(record)
    if "conversations" in record or "conversation" in record:
        return _sharegpt_pair(record)
    if "instruction" in record:
        return _alpaca_pair(record)
    return _prompt_pair(record)


def _pair(
    prompt: list[dict[str, Any]],
    chosen: list[dict[str, Any]],
    rejected: list[dict[str, Any]],
    *,
    tools: list[Any] | None = None,
    parallel: bool | None = None,
    metadata: dict[str, Any],
) -> Normalized:
    if not prompt:
        raise RecordError("the prompt is empty", "prompt")
    if chosen == rejected:
        raise RecordError("chosen and rejected are the same reply", "rejected")
    normalized = Normalized(
        messages=[*prompt, *chosen], tools=tools, parallel_tool_calls=parallel, metadata=metadata
    )
    normalized.alternative = rejected
    normalized.reply_start = len(prompt)
    return normalized


def _check_reply(messages: Any, where: str) -> list[dict[str, Any]]:
    """A reply: one or more messages, the first from the assistant (tool results may follow)."""
    messages = _check_prompt(messages, where)
    if messages[0]["role"] != "assistant":
        raise RecordError(
            f"a reply starts with an assistant message, not {messages[0]['role']!r}",
            f"{where}[0].role",
        )
    return messages


def _check_prompt(messages: Any, where: str) -> list[dict[str, Any]]:
    """One or more valid messages; an error names the field under ``where``."""
    if not isinstance(messages, list) or not messages:
        raise RecordError(f"{where} must be a non-empty array of messages", where)
    for index, message in enumerate(messages):
        try:
            _check_message(message, index)
        except RecordError as error:
            raise RecordError(
                error.reason, error.field.replace("messages", where, 1) if error.field else where
            ) from None
    return messages


def _openai_pair(record: dict[str, Any]) -> Normalized:
    given = record.get("input")
    if not isinstance(given, dict):
        raise RecordError(f"input must be an object, got {_json_type(given)}", "input")
    prompt = _check_prompt(given.get("messages"), "input.messages")
    chosen = _check_reply(record.get("preferred_output"), "preferred_output")
    rejected = _check_reply(record.get("non_preferred_output"), "non_preferred_output")
    tools = given.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise RecordError(f"tools must be an array, got {_json_type(tools)}", "input.tools")
    parallel = given.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise RecordError("parallel_tool_calls must be true or false", "input.parallel_tool_calls")
    metadata = {
        key: value
        for key, value in record.items()
        if key not in {"input", "preferred_output", "non_preferred_output"}
    }
    return _pair(
        prompt, chosen, rejected, tools=tools or None, parallel=parallel, metadata=metadata
    )


def _sharegpt_turn(value: Any, where: str) -> list[Any]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and value:
        return value
    if isinstance(value, str) and value:
        # MedicalGPT writes the two replies as plain strings beside `conversations`.
        return [{"from": "gpt", "value": value}]
    raise RecordError(
        f'{where} must be a turn object like {{"from": "gpt", ...}} or a non-empty string', where
    )


def _sharegpt_pair(record: dict[str, Any]) -> Normalized:
    turns = record.get("conversations", record.get("conversation"))
    if not isinstance(turns, list) or not turns:
        raise RecordError("conversations must be a non-empty array", "conversations")
    base = {key: value for key, value in record.items() if key not in {"chosen", "rejected"}}
    sides = []
    for key in ("chosen", "rejected"):
        extra = _sharegpt_turn(record.get(key), key)
        try:
            sides.append(normalize_sharegpt({**base, "conversations": [*turns, *extra]}))
        except RecordError as error:
            field = error.field
            match = re.match(r"conversations\[(\d+)\](.*)", field)
            if match and int(match.group(1)) >= len(turns):
                field = f"{key}{match.group(2)}"
            raise RecordError(error.reason, field) from None
    chosen_side, rejected_side = sides
    start = len(chosen_side.messages) - len(_sharegpt_turn(record["chosen"], "chosen"))
    rejected_start = len(rejected_side.messages) - len(
        _sharegpt_turn(record["rejected"], "rejected")
    )
    chosen = _check_reply(chosen_side.messages[start:], "chosen")
    rejected = _check_reply(rejected_side.messages[rejected_start:], "rejected")
    return _pair(
        chosen_side.messages[:start],
        chosen,
        rejected,
        tools=sharegpt_tools(record.get("tools")),
        metadata=chosen_side.metadata,
    )


def _text_reply(value: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        if not value:
            raise RecordError(f"{where} is empty", where)
        return [{"role": "assistant", "content": value}]
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list):
        return value
    raise RecordError(
        f"{where} must be a string or a list of messages, got {_json_type(value)}", where
    )


def _alpaca_pair(record: dict[str, Any]) -> Normalized:
    base = {key: value for key, value in record.items() if key not in {"chosen", "rejected"}}
    normalized = normalize_alpaca({**base, "output": "-"})
    prompt = normalized.messages[:-1]
    chosen = _check_reply(_text_reply(record.get("chosen"), "chosen"), "chosen")
    rejected = _check_reply(_text_reply(record.get("rejected"), "rejected"), "rejected")
    return _pair(prompt, chosen, rejected, metadata=normalized.metadata)


def _hh_transcript(text: str, where: str) -> list[dict[str, Any]]:
    parts = _HH_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        raise RecordError(
            'an HH-RLHF transcript must be turns of "\\n\\nHuman: " and "\\n\\nAssistant: "', where
        )
    roles = {"Human": "user", "Assistant": "assistant"}
    return [
        {"role": roles[speaker], "content": content}
        for speaker, content in zip(parts[1::2], parts[2::2], strict=True)
    ]


def _common_prefix(left: list[Any], right: list[Any]) -> int:
    count = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        count += 1
    return count


def _prompt_pair(record: dict[str, Any]) -> Normalized:
    chosen_raw, rejected_raw = record.get("chosen"), record.get("rejected")
    prompt_raw = record.get("prompt")
    metadata = {key: value for key, value in record.items() if key not in PAIR_KEYS}
    if (
        prompt_raw is None
        and isinstance(chosen_raw, str)
        and isinstance(rejected_raw, str)
        and _HH_TURN.search(chosen_raw)
    ):
        # Anthropic HH-RLHF: two whole transcripts; what they share is the prompt.
        chosen_all = _hh_transcript(chosen_raw, "chosen")
        rejected_all = _hh_transcript(rejected_raw, "rejected")
    else:
        if isinstance(prompt_raw, str):
            prompt = [{"role": "user", "content": prompt_raw}] if prompt_raw else []
        elif prompt_raw is None:
            prompt = []
        elif isinstance(prompt_raw, list):
            prompt = _check_prompt(prompt_raw, "prompt")
        else:
            raise RecordError(
                f"prompt must be a string or a list of messages, got {_json_type(prompt_raw)}",
                "prompt",
            )
        chosen_all = [*prompt, *_strip_prompt(_text_reply(chosen_raw, "chosen"), prompt)]
        rejected_all = [*prompt, *_strip_prompt(_text_reply(rejected_raw, "rejected"), prompt)]
    if isinstance(record.get("system"), str) and record["system"]:
        system = {"role": "system", "content": record["system"]}
        chosen_all, rejected_all = [system, *chosen_all], [system, *rejected_all]
    shared = _common_prefix(chosen_all, rejected_all)
    # The replies are what follows the last prompt message the two sides share.
    while shared and chosen_all[shared - 1].get("role") == "assistant":
        shared -= 1
    if not shared:
        raise RecordError("no prompt: chosen and rejected share no opening message", "prompt")
    chosen = _check_reply(chosen_all[shared:], "chosen")
    rejected = _check_reply(rejected_all[shared:], "rejected")
    for where, reply in (("chosen", chosen), ("rejected", rejected)):
        if any(message.get("role") == "user" for message in reply):
            raise RecordError("chosen and rejected differ before their final assistant turn", where)
    return _pair(chosen_all[:shared], chosen, rejected, metadata=metadata)


def _strip_prompt(reply: list[dict[str, Any]], prompt: list[dict[str, Any]]) -> list[Any]:
    """Argilla and TRL's implicit form repeat the prompt at the start of each reply."""
    if prompt and reply[: len(prompt)] == prompt:
        return reply[len(prompt) :]
    return reply


def _labelled(record: dict[str, Any]) -> Normalized:
    key = "kto_tag" if "kto_tag" in record else "label"
    label = record[key]
    if not isinstance(label, bool):
        raise RecordError(f"{key} must be true or false, got {_json_type(label)}", key)
    rest = {name: value for name, value in record.items() if name != key}
    if "messages" in rest:
        normalized = normalize_openai(rest)
    elif "conversations" in rest or "conversation" in rest:
        normalized = normalize_sharegpt(rest)
    elif "instruction" in rest:
        normalized = normalize_alpaca(rest)
    elif "prompt" in rest and "completion" in rest:
        prompt_raw, completion = rest.pop("prompt"), rest.pop("completion")
        if isinstance(prompt_raw, list):
            prompt = _check_prompt(prompt_raw, "prompt")
        elif isinstance(prompt_raw, str) and prompt_raw:
            prompt = [{"role": "user", "content": prompt_raw}]
        else:
            raise RecordError("prompt must be a non-empty string or a list of messages", "prompt")
        reply = _check_reply(_text_reply(completion, "completion"), "completion")
        normalized = Normalized(messages=[*prompt, *reply], metadata=rest)
    else:
        raise RecordError(
            "a labelled reply needs prompt/completion, messages, conversations or instruction/output",
            key,
        )
    check_messages(normalized.messages)
    start = len(normalized.messages)
    while start and normalized.messages[start - 1]["role"] in ("assistant", "tool"):
        start -= 1
    if start == len(normalized.messages) or start == 0:
        raise RecordError("a labelled reply needs a prompt and a final assistant reply", key)
    normalized.label = label
    normalized.reply_start = start
    return normalized


def _unranked_pair(record: dict[str, Any]) -> Normalized:
    """Two replies without a choice: the pair goes to pairwise review before any export."""
    responses = record["responses"]
    if len(responses) != 2:
        raise RecordError(f"responses must hold two replies, got {len(responses)}", "responses")
    prompt_raw = record.get("prompt")
    if isinstance(prompt_raw, str) and prompt_raw:
        prompt = [{"role": "user", "content": prompt_raw}]
    elif isinstance(prompt_raw, list):
        prompt = _check_prompt(prompt_raw, "prompt")
    else:
        raise RecordError("prompt must be a non-empty string or a list of messages", "prompt")
    first, second = (
        _check_reply(_text_reply(reply, f"responses[{index}]"), f"responses[{index}]")
        for index, reply in enumerate(responses)
    )
    metadata = {key: value for key, value in record.items() if key not in {"prompt", "responses"}}
    normalized = _pair(prompt, first, second, metadata=metadata)
    normalized.unranked = True  # type: ignore[attr-defined]  # read with getattr by services/preference_imports.py
    return normalized
