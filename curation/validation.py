"""Normalize one source record to OpenAI chat messages, or say exactly what is wrong with it.

Each format has a `normalize_*` function returning a `Normalized` record or raising
`RecordError(reason, field)`. The checks follow OpenAI's fine-tuning format rules as the
cookbook's data-preparation notebook states them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "tool_calls", "tool_call_id", "weight", "function_call", "refusal"}
)
RECORD_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
    "function_call": "assistant",
}


class RecordError(Exception):
    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass
class Normalized:
    messages: list[dict[str, Any]]
    tools: list[Any] | None = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Preference data (curation.preferences): the rejected reply of a pair, or the label of
    # a KTO reply, and where the final assistant turn starts in `messages`.
    alternative: list[dict[str, Any]] | None = None
    label: bool | None = None
    reply_start: int | None = None

    @property
    def content_hash(self) -> str:
        key: dict[str, Any] = {
            "messages": self.messages,
            "tools": self.tools,
            "parallel_tool_calls": self.parallel_tool_calls,
        }
        # Only preference records carry these, so other records keep their hashes; the same
        # prompt with a different pair (or label) is a different example.
        if self.alternative is not None:
            key["alternative"] = self.alternative
        if self.label is not None:
            key["label"] = self.label
        canonical = orjson.dumps(key, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()

    def warnings(self) -> list[str]:
        roles = {message["role"] for message in self.messages}
        found = []
        if not roles & {"system", "developer"}:
            found.append("no_system_message")
        if "user" not in roles:
            found.append("no_user_message")
        return found


def _require_object(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {_json_type(record)}")
    return record


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _check_content(message: dict[str, Any], where: str) -> None:
    content = message["content"]
    if content is None:
        if message["role"] == "assistant" and message.get("tool_calls"):
            return
        raise RecordError(
            "content is null (allowed only on an assistant message with tool_calls)",
            f"{where}.content",
        )
    if isinstance(content, str):
        return
    if isinstance(content, list):
        for index, part in enumerate(content):
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise RecordError(
                    'content parts must be objects like {"type": "text", "text": "..."}',
                    f"{where}.content[{index}]",
                )
        return
    raise RecordError(f"content must be a string, got {_json_type(content)}", f"{where}.content")


# OpenAI's rule for a function's name (Chat Completions `tools[].function.name`); the other
# providers take OpenAI's format.
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
FUNCTION_NAME_RULE = "letters, digits, _ and - only, 1 to 64 of them"


def _check_function_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not FUNCTION_NAME.fullmatch(name):
        shown = repr(name)[:80]
        raise RecordError(f"function name {shown} is not allowed: {FUNCTION_NAME_RULE}", where)


def _function_of(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool's function definition, in OpenAI's nested shape or the legacy flat one."""
    nested = tool.get("function")
    return nested if isinstance(nested, dict) else tool


def invalid_function_name(
    tools: list[Any] | None, messages: list[dict[str, Any]]
) -> tuple[str, str] | None:
    """(where, why) for the first function name a provider would refuse, in the tool
    definitions or the assistant's tool calls; None when every name is allowed."""
    try:
        for index, tool in enumerate(tools or []):
            if isinstance(tool, dict):
                _check_function_name(
                    _function_of(tool).get("name"), f"tools[{index}].function.name"
                )
        for number, message in enumerate(messages):
            for index, call in enumerate(message.get("tool_calls") or []):
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    _check_function_name(
                        call["function"].get("name"),
                        f"messages[{number}].tool_calls[{index}].function.name",
                    )
    except RecordError as error:
        return error.field, error.reason
    return None


def _check_tool_calls(message: dict[str, Any], where: str) -> None:
    calls = message["tool_calls"]
    if message["role"] != "assistant":
        raise RecordError("only assistant messages may have tool_calls", f"{where}.tool_calls")
    if not isinstance(calls, list) or not calls:
        raise RecordError("tool_calls must be a non-empty array", f"{where}.tool_calls")
    for index, call in enumerate(calls):
        place = f"{where}.tool_calls[{index}]"
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            raise RecordError("a tool call needs a function object", place)
        if not isinstance(call["function"].get("name"), str) or not call["function"]["name"]:
            raise RecordError("a tool call needs a function name", f"{place}.function.name")
        _check_function_name(call["function"]["name"], f"{place}.function.name")
        arguments = call["function"].get("arguments")
        if not isinstance(arguments, str):
            raise RecordError(
                f"arguments must be a JSON string, got {_json_type(arguments)}",
                f"{place}.function.arguments",
            )
        try:
            json.loads(arguments)
        except ValueError:
            raise RecordError(
                "arguments is not valid JSON", f"{place}.function.arguments"
            ) from None


_PLAIN_KEYS = frozenset({"role", "content"})
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})


def _check_message(message: Any, index: int) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise RecordError(f"a message must be an object, got {_json_type(message)}", where)
    unknown = sorted(set(message) - MESSAGE_KEYS)
    if unknown:
        raise RecordError(f"unknown key {unknown[0]!r}", f"{where}.{unknown[0]}")
    if "role" not in message:
        raise RecordError("message has no role", f"{where}.role")
    role = message["role"]
    if role not in ROLES:
        raise RecordError(f"unknown role {role!r}", f"{where}.role")
    if "content" not in message and not (role == "assistant" and message.get("tool_calls")):
        raise RecordError("message has no content", f"{where}.content")
    message.setdefault("content", None)
    if message.get("tool_calls") is not None:
        _check_tool_calls(message, where)
    _check_content(message, where)
    if "weight" in message:
        if role != "assistant":
            raise RecordError("weight is allowed only on assistant messages", f"{where}.weight")
        if message["weight"] not in (0, 1) or isinstance(message["weight"], bool):
            raise RecordError(
                f"weight must be 0 or 1, got {message['weight']!r}", f"{where}.weight"
            )
    if role == "tool" and not message.get("tool_call_id"):
        raise RecordError("tool message without tool_call_id", f"{where}.tool_call_id")
    if "name" in message and not isinstance(message["name"], str):
        raise RecordError("name must be a string", f"{where}.name")


def check_messages(messages: Any) -> list[dict[str, Any]]:
    if messages is None:
        raise RecordError("missing messages", "messages")
    if not isinstance(messages, list):
        raise RecordError(f"messages must be an array, got {_json_type(messages)}", "messages")
    if not messages:
        raise RecordError("messages is empty", "messages")
    has_assistant = False
    for index, message in enumerate(messages):
        if (
            type(message) is dict
            and message.keys() == _PLAIN_KEYS
            and type(message["content"]) is str
        ):
            # The common case, a plain text message, checked without building error paths.
            role = message["role"]
            if role in _PLAIN_ROLES:
                has_assistant = has_assistant or role == "assistant"
                continue
        _check_message(message, index)
        has_assistant = has_assistant or message["role"] == "assistant"
    if not has_assistant:
        raise RecordError("no assistant message", "messages")
    return messages


def normalize_openai(record: Any) -> Normalized:
    record = _require_object(record)
    messages = check_messages(record.get("messages"))
    tools = record.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise RecordError(f"tools must be an array, got {_json_type(tools)}", "tools")
    functions = record.get("functions")
    if functions is not None:
        # The legacy name for function definitions: kept, as tools, rather than dropped.
        if not isinstance(functions, list):
            raise RecordError(
                f"functions must be an array, got {_json_type(functions)}", "functions"
            )
        tools = [*(tools or []), *(_function_definition(f, i) for i, f in enumerate(functions))]
    if tools:
        _check_depth(tools, "tools")
        for index, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise RecordError(
                    f"a tool must be an object, got {_json_type(tool)}", f"tools[{index}]"
                )
            function = _function_of(tool)
            if "name" in function or tool.get("type") == "function":
                _check_function_name(function.get("name"), f"tools[{index}].function.name")
    parallel = record.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise RecordError("parallel_tool_calls must be true or false", "parallel_tool_calls")
    metadata = {key: value for key, value in record.items() if key not in RECORD_KEYS}
    return Normalized(
        messages=messages, tools=tools, parallel_tool_calls=parallel, metadata=metadata
    )


def _require_text(record: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing {key}", key)
        return ""
    if not isinstance(value, str):
        raise RecordError(f"{key} must be a string, got {_json_type(value)}", key)
    return value


def normalize_prompt_completion(record: Any) -> Normalized:
    record = _require_object(record)
    prompt = _require_text(record, "prompt")
    completion = _require_text(record, "completion")
    metadata = {key: value for key, value in record.items() if key not in {"prompt", "completion"}}
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    return Normalized(messages=messages, metadata=metadata)


def _alpaca_history(record: dict[str, Any]) -> list[dict[str, Any]]:
    """LLaMA-Factory's `history`: earlier [instruction, response] rounds, oldest first."""
    history = record.get("history")
    if history is None or history == []:
        return []
    if not isinstance(history, list):
        raise RecordError(
            f"history must be an array of [prompt, response] pairs, got {_json_type(history)}",
            "history",
        )
    messages: list[dict[str, Any]] = []
    for index, pair in enumerate(history):
        if (
            not isinstance(pair, (list, tuple))
            or len(pair) != 2
            or not all(isinstance(text, str) for text in pair)
        ):
            raise RecordError(
                "each history item must be a [prompt, response] pair of strings",
                f"history[{index}]",
            )
        messages += [
            {"role": "user", "content": pair[0]},
            {"role": "assistant", "content": pair[1]},
        ]
    return messages


ALPACA_KEYS = frozenset({"instruction", "input", "output", "system", "history"})


def normalize_alpaca(record: Any) -> Normalized:
    record = _require_object(record)
    instruction = _require_text(record, "instruction")
    extra_input = _require_text(record, "input", required=False)
    output = _require_text(record, "output")
    system = _require_text(record, "system", required=False)
    user = f"{instruction}\n\n{extra_input}" if extra_input else instruction
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages += _alpaca_history(record)
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
    metadata = {key: value for key, value in record.items() if key not in ALPACA_KEYS}
    return Normalized(messages=messages, metadata=metadata)


def _function_definition(item: Any, index: int) -> dict[str, Any]:
    """One tool as OpenAI's `{"type": "function", "function": {...}}`, from either shape."""
    where = f"tools[{index}]"
    if not isinstance(item, dict):
        raise RecordError(f"a tool must be an object, got {_json_type(item)}", where)
    if item.get("type") == "function" and isinstance(item.get("function"), dict):
        function = item["function"]
    else:
        function = item
    if not isinstance(function.get("name"), str) or not function["name"]:
        raise RecordError("a tool definition needs a name", f"{where}.name")
    _check_function_name(function["name"], f"{where}.name")
    return {"type": "function", "function": function}


def sharegpt_tools(value: Any) -> list[dict[str, Any]] | None:
    """LLaMA-Factory writes `tools` as a JSON string of function definitions."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as error:
            raise RecordError(f"tools is not valid JSON: {error}", "tools") from None
        if value is None or value == []:
            return None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RecordError(
            f"tools must be a JSON array of function definitions, got {_json_type(value)}", "tools"
        )
    tools = [_function_definition(item, index) for index, item in enumerate(value)]
    _check_depth(tools, "tools")
    return tools


def _check_depth(value: Any, field: str) -> None:
    # Token counting serializes tools with json.dumps, whose recursion stops near 1000 levels.
    try:
        json.dumps(value)
    except RecursionError:
        raise RecordError("nested too deeply", field) from None


def _sharegpt_calls(value: str, where: str, index: int) -> list[dict[str, Any]]:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        parsed = None
    calls = parsed if isinstance(parsed, list) else [parsed]
    found = []
    for number, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise RecordError(
                'a function_call turn must hold {"name": ..., "arguments": ...} (or an array of them)',
                f"{where}.value",
            )
        arguments = call.get("arguments", {})
        found.append(
            {
                "id": f"call_{index}" if len(calls) == 1 else f"call_{index}_{number}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": arguments
                    if isinstance(arguments, str)
                    else json.dumps(arguments, ensure_ascii=False),
                },
            }
        )
    return found


SHAREGPT_KEYS = frozenset({"conversations", "conversation", "system", "tools"})


def normalize_sharegpt(record: Any) -> Normalized:
    record = _require_object(record)
    turns = record.get("conversations", record.get("conversation"))
    if turns is None:
        raise RecordError("missing conversations", "conversations")
    if not isinstance(turns, list) or not turns:
        raise RecordError("conversations must be a non-empty array", "conversations")
    tools = sharegpt_tools(record.get("tools"))
    system = _require_text(record, "system", required=False)
    messages: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of function calls still waiting for their observation
    last_call_id: str | None = None
    for index, turn in enumerate(turns):
        where = f"conversations[{index}]"
        if not isinstance(turn, dict):
            raise RecordError(f"a turn must be an object, got {_json_type(turn)}", where)
        speaker = turn.get("from")
        if speaker not in SHAREGPT_ROLES:
            raise RecordError(f"unknown role {speaker!r}", f"{where}.from")
        value = turn.get("value")
        if not isinstance(value, str):
            raise RecordError(f"value must be a string, got {_json_type(value)}", f"{where}.value")
        role = SHAREGPT_ROLES[speaker]
        if speaker == "function_call":
            calls = _sharegpt_calls(value, where, index)
            pending = [call["id"] for call in calls]
            last_call_id = pending[-1]
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        elif role == "tool":
            if last_call_id is None:
                raise RecordError("tool turn without a preceding function call", f"{where}.from")
            call_id = pending.pop(0) if pending else last_call_id
            messages.append({"role": "tool", "tool_call_id": call_id, "content": value})
        else:
            messages.append({"role": role, "content": value})
    metadata = {key: value for key, value in record.items() if key not in SHAREGPT_KEYS}
    if system:
        if messages[0]["role"] == "system":
            # A system turn overrides the column, as in LLaMA-Factory; the column is kept.
            metadata["system"] = system
        else:
            messages.insert(0, {"role": "system", "content": system})
    check_messages(messages)
    return Normalized(messages=messages, tools=tools, metadata=metadata)


CSV_LAYOUTS = (("system", "user", "assistant"), ("user", "assistant"), ("prompt", "completion"))


def csv_layout(header: list[str]) -> tuple[str, ...]:
    columns = {name.strip().lower() for name in header}
    for layout in CSV_LAYOUTS:
        if set(layout) <= columns:
            return layout
    raise RecordError(
        "the CSV header must name the columns system,user,assistant (system optional) or prompt,completion; "
        f"found {', '.join(header) or 'no columns'}",
        "header",
    )


def normalize_csv_row(row: dict[str, str | None], layout: tuple[str, ...]) -> Normalized:
    clean = {(key or "").strip().lower(): value for key, value in row.items()}
    if None in row:
        raise RecordError("the row has more cells than the header has columns")
    if layout == ("prompt", "completion"):
        normalized = normalize_prompt_completion(
            {"prompt": clean.get("prompt"), "completion": clean.get("completion")}
        )
    else:
        user = _require_text(clean, "user")
        assistant = _require_text(clean, "assistant")
        system = clean.get("system") or ""
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        normalized = Normalized(messages=messages)
    normalized.metadata = {
        key: value for key, value in clean.items() if key not in layout and key and value
    }
    return normalized


def unsupported_kind(record: Any) -> str | None:
    """What a record is when it is a kind of data Curator does not import yet, else None."""
    if not isinstance(record, dict):
        return None
    # Preference pairs and KTO labels are imported (curation.preferences).
    messages = record.get("messages")
    if isinstance(messages, list) and any(_is_v1_message(message) for message in messages[:50]):
        return "LLaMA-Factory v1 data (content parts with value, loss_weight)"
    return None


def _is_v1_message(message: Any) -> bool:
    if not isinstance(message, dict):
        return False
    if "loss_weight" in message:
        return True
    content = message.get("content")
    return (
        isinstance(content, list)
        and bool(content)
        and isinstance(content[0], dict)
        and "value" in content[0]
        and "text" not in content[0]
    )


NORMALIZERS = {
    "openai": normalize_openai,
    "prompt_completion": normalize_prompt_completion,
    "sharegpt": normalize_sharegpt,
    "alpaca": normalize_alpaca,
}
