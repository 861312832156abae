"""The vendors' own request types and documented rules, as the simulator's shapes check them.

Each check reads the installed vendor SDK where the SDK carries the rule, so the simulator
refuses what the SDK's types refuse and moves with the SDK when it is upgraded:

- Together: a job body must validate as ``together.lib.types.fine_tuning.FinetuneRequest``
  (what ``client.fine_tuning.create`` sends); ranges come from the model's limits, the same
  ``FinetuneModelLimits`` the ``/fine-tunes/models/limits`` endpoint serves. Training files
  follow ``together.lib.constants``: the columns of each dataset format and the roles of a
  conversation; a preference output holds exactly one non-empty assistant message
  (https://docs.together.ai/docs/fine-tuning-data-preparation).
- Fireworks: bodies are checked field by field against the SDK's TypedDicts
  (``SupervisedFineTuningJobCreateParams``, ``DpoJobCreateParams``, ``DatasetCreateParams``…)
  by their wire names; an unknown field is refused as Fireworks' gateway refuses it, and
  ``lossConfig.dpo.beta`` must be > 0 and < 0.5 (``DpoConfig``'s documentation). Roles are
  system, user and assistant (https://docs.fireworks.ai/fine-tuning/fine-tuning-models).
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import typing_extensions
from fireworks._utils import PropertyInfo
from pydantic import ValidationError
from together.lib.constants import (
    JSONL_EXTRA_COLUMNS_MAP,
    JSONL_REQUIRED_COLUMNS_MAP,
    POSSIBLE_ROLES_CONVERSATION,
    DatasetFormat,
)
from together.lib.types.fine_tuning import FinetuneRequest
from together.types.finetune_model_limits import FinetuneModelLimits, FullTraining, LoraTraining
from typing_extensions import get_type_hints

from training.simulator.records import ApiError

# Fireworks documents the roles of a chat dataset line as these three.
FIREWORKS_ROLES = ("system", "user", "assistant")
# Fireworks' one-request dataset upload takes at most this many bytes; bigger files go
# through getUploadEndpoint, a PUT to the signed URL and validateUpload.
FIREWORKS_UPLOAD_LIMIT = 150 * 1024 * 1024
# DpoConfig.beta: "Must be > 0 and < 0.5."
FIREWORKS_BETA_RANGE = (0.0, 0.5)


# -- Together -------------------------------------------------------------------------------


def together_request(body: dict[str, Any]) -> FinetuneRequest:
    """The body as the SDK's FinetuneRequest; a 400 naming the first bad field otherwise."""
    try:
        return FinetuneRequest.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(
            400,
            f"Invalid value for '{where}': {first['msg']} (got {first.get('input')!r})",
            param=where,
        ) from None


def _out_of_range(name: str, value: Any, low: float, high: float) -> ApiError:
    return ApiError(
        400,
        f"{name} must be between {low:g} and {high:g} for this model (got {value!r})",
        param=name,
    )


def check_together_limits(request: FinetuneRequest, limits: FinetuneModelLimits) -> None:
    """The checks Together's server makes against the model's published limits."""
    if not 1 <= request.n_epochs <= limits.max_num_epochs:
        raise _out_of_range("n_epochs", request.n_epochs, 1, limits.max_num_epochs)
    if not limits.min_learning_rate < request.learning_rate <= limits.max_learning_rate:
        raise _out_of_range(
            "learning_rate",
            request.learning_rate,
            limits.min_learning_rate,
            limits.max_learning_rate,
        )
    if request.n_evals is not None and not 0 <= request.n_evals <= limits.max_num_evals:
        raise _out_of_range("n_evals", request.n_evals, 0, limits.max_num_evals)
    if request.n_checkpoints is not None and not (
        1 <= request.n_checkpoints <= limits.max_num_checkpoints
    ):
        raise _out_of_range("n_checkpoints", request.n_checkpoints, 1, limits.max_num_checkpoints)
    if not 0 <= request.warmup_ratio <= 1:
        raise _out_of_range("warmup_ratio", request.warmup_ratio, 0, 1)
    kind = request.training_type
    # No training_type means LoRA at the model's default rank (FinetuneModelLimits' docs).
    lora = kind is None or getattr(kind, "type", "Lora") == "Lora"
    dpo = getattr(request.training_method, "method", "sft") == "dpo"
    if lora:
        if limits.lora_training is None:
            raise ApiError(
                400, "LoRA training is not supported for this model", param="training_type"
            )
        rank = (
            getattr(kind, "lora_r", None) if kind is not None else limits.lora_training.default_rank
        )
        if not isinstance(rank, int) or not 1 <= rank <= limits.lora_training.max_rank:
            raise _out_of_range("training_type.lora_r", rank, 1, limits.lora_training.max_rank)
        sizes: LoraTraining | FullTraining = limits.lora_training
    else:
        if not limits.supports_full_training or limits.full_training is None:
            raise ApiError(
                400, "Full training is not supported for this model", param="training_type"
            )
        sizes = limits.full_training
    high = sizes.max_batch_size_dpo if dpo else sizes.max_batch_size
    if (
        isinstance(request.batch_size, int)
        and not sizes.min_batch_size <= request.batch_size <= high
    ):
        raise _out_of_range("batch_size", request.batch_size, sizes.min_batch_size, high)
    ceiling = limits.max_seq_length_dpo if dpo else limits.max_seq_length_sft
    if request.max_seq_length is not None and not (
        limits.min_max_seq_length <= request.max_seq_length <= (ceiling or request.max_seq_length)
    ):
        raise _out_of_range(
            "max_seq_length", request.max_seq_length, limits.min_max_seq_length, ceiling or 0
        )
    beta = getattr(request.training_method, "dpo_beta", None)
    if dpo and beta is not None and not beta > 0:
        raise ApiError(400, f"dpo_beta must be positive (got {beta!r})", param="dpo_beta")


# -- Fireworks ------------------------------------------------------------------------------


def _alias(annotation: Any) -> str | None:
    while get_origin(annotation) in _WRAPPERS:
        for meta in getattr(annotation, "__metadata__", ()):
            if isinstance(meta, PropertyInfo) and meta.alias:
                return meta.alias
        annotation = get_args(annotation)[0]
    return None


def _strip(annotation: Any) -> Any:
    """The type under Annotated[...] and Required[...]/NotRequired[...]."""
    while get_origin(annotation) in _WRAPPERS:
        annotation = get_args(annotation)[0]
    return annotation


_WRAPPERS = (
    typing.Annotated,
    typing.Required,
    typing.NotRequired,
    typing_extensions.Annotated,
    typing_extensions.Required,
    typing_extensions.NotRequired,
)
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def _check_value(value: Any, annotation: Any, where: str) -> None:
    kind = _strip(annotation)
    origin = get_origin(kind)
    if kind is object or kind is Any:
        return
    if origin in (Union, types.UnionType):
        errors = []
        for option in get_args(kind):
            try:
                _check_value(value, option, where)
                return
            except ApiError as error:
                errors.append(error)
        raise errors[0]
    if origin is Literal:
        if value not in get_args(kind):
            raise _invalid(where, value, f"one of {', '.join(map(str, get_args(kind)))}")
        return
    if kind is bool:
        if not isinstance(value, bool):
            raise _invalid(where, value, "a boolean")
    elif kind is int:
        # Protobuf's JSON mapping takes integers as numbers or as decimal strings.
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and _INT.match(value)
        )
        if not ok:
            raise _invalid(where, value, "an integer")
    elif kind is float:
        ok = (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and _FLOAT.match(value)
        )
        if not ok:
            raise _invalid(where, value, "a number")
    elif kind is str:
        if not isinstance(value, str):
            raise _invalid(where, value, "a string")
    elif origin in (dict, typing.Dict) or kind is dict:  # noqa: UP006
        if not isinstance(value, dict):
            raise _invalid(where, value, "an object")
        args = get_args(kind)
        if len(args) == 2:
            for key, item in value.items():
                _check_value(item, args[1], f"{where}.{key}")
    elif origin in (list, typing.List) or kind is list:  # noqa: UP006
        if not isinstance(value, list):
            raise _invalid(where, value, "a list")
        args = get_args(kind)
        for index, item in enumerate(value):
            if args:
                _check_value(item, args[0], f"{where}[{index}]")
    elif typing_extensions.is_typeddict(kind):
        if not isinstance(value, dict):
            raise _invalid(where, value, "an object")
        check_typed_dict(value, kind, where=where)


def _invalid(where: str, value: Any, expected: str) -> ApiError:
    return ApiError(400, f"invalid value for field {where}: {json.dumps(value)} is not {expected}")


def wire_fields(typed_dict: Any) -> dict[str, tuple[str, Any, bool]]:
    """Wire name -> (python name, annotation, required) of a Stainless TypedDict."""
    hints = get_type_hints(typed_dict, include_extras=True)
    required: frozenset[str] = getattr(typed_dict, "__required_keys__", frozenset())
    return {
        (_alias(annotation) or name): (name, annotation, name in required)
        for name, annotation in hints.items()
    }


def check_typed_dict(
    body: dict[str, Any], typed_dict: Any, *, where: str = "", skip: frozenset[str] = frozenset()
) -> None:
    """Refuse unknown fields, missing required ones and values of the wrong type, naming
    the field by its wire name (``skip``: fields that travel in the path or query)."""
    fields = {k: v for k, v in wire_fields(typed_dict).items() if v[0] not in skip}
    prefix = f"{where}." if where else ""
    for key, value in body.items():
        if key not in fields:
            raise ApiError(400, f'unknown field "{prefix}{key}"')
        _check_value(value, fields[key][1], f"{prefix}{key}")
    for key, (_, _, needed) in fields.items():
        if needed and key not in body:
            raise ApiError(400, f"missing required field {prefix}{key}")


def check_fireworks_ranges(config: dict[str, Any], *, where: str = "") -> None:
    """The documented ranges beyond the types (the SDK's docstrings)."""
    prefix = f"{where}." if where else ""
    epochs = config.get("epochs")
    if epochs is not None and int(epochs) < 1:
        raise ApiError(400, f"{prefix}epochs must be at least 1 (got {epochs})")
    rate = config.get("learningRate")
    if rate is not None and not float(rate) > 0:
        raise ApiError(400, f"{prefix}learningRate must be positive (got {rate})")
    for key in ("batchSizeSamples", "loraRank", "maxContextLength"):
        if config.get(key) is not None and int(config[key]) < 1:
            raise ApiError(400, f"{prefix}{key} must be positive (got {config[key]})")


def check_fireworks_beta(loss_config: dict[str, Any] | None) -> None:
    beta = ((loss_config or {}).get("dpo") or {}).get("beta")
    if beta is None:
        return
    low, high = FIREWORKS_BETA_RANGE
    if not low < float(beta) < high:
        raise ApiError(
            400,
            f"lossConfig.dpo.beta must be > {low:g} and < {high:g} (got {beta})",
        )


# -- training files -------------------------------------------------------------------------


class FileRuleError(ValueError):
    """A line breaks the provider's dataset rules; the message names the line."""


def _message_problem(message: Any, roles: tuple[str, ...] | list[str]) -> str | None:
    if not isinstance(message, dict):
        return "each message must be a JSON object"
    role = message.get("role")
    if role not in roles:
        return f"role {role!r} is not allowed (allowed: {', '.join(roles)})"
    return None


def _preference_problem(record: dict[str, Any], roles: tuple[str, ...] | list[str]) -> str | None:
    given = record.get("input")
    messages = given.get("messages") if isinstance(given, dict) else None
    if not isinstance(messages, list) or not messages:
        return "'input.messages' must be a non-empty list"
    for index, message in enumerate(messages, start=1):
        problem = _message_problem(message, roles)
        if problem:
            return f"input message {index}: {problem}"
    for key in ("preferred_output", "non_preferred_output"):
        output = record.get(key)
        if not isinstance(output, list) or len(output) != 1:
            count = len(output) if isinstance(output, list) else 0
            return f"'{key}' must hold exactly one assistant message (found {count})"
        only = output[0]
        if not isinstance(only, dict) or only.get("role") != "assistant":
            return f"'{key}' must hold an assistant message"
        content = only.get("content")
        if not (isinstance(content, str) and content.strip()) and not only.get("tool_calls"):
            return f"'{key}' holds an empty assistant message"
    return None


def check_dataset_lines(data: bytes, *, provider: str) -> int:
    """Check every line against ``provider``'s dataset rules; the number of examples.

    Together's formats and their allowed columns come from ``together.lib.constants``;
    Fireworks takes the same conversation and preference shapes with its three roles.
    """
    if provider == "together":
        roles: tuple[str, ...] | list[str] = POSSIBLE_ROLES_CONVERSATION
    else:
        roles = FIREWORKS_ROLES
    conversation = DatasetFormat.CONVERSATION
    preference = DatasetFormat.PREFERENCE_OPENAI
    allowed = {
        fmt: set(JSONL_REQUIRED_COLUMNS_MAP[fmt]) | set(JSONL_EXTRA_COLUMNS_MAP[fmt])
        for fmt in (conversation, preference)
    }
    count = 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileRuleError(f"the file is not UTF-8 (byte {error.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise FileRuleError(f"line {number}: not valid JSON") from None
        if not isinstance(record, dict):
            raise FileRuleError(f"line {number}: each line must be a JSON object")
        fmt = preference if "preferred_output" in record or "input" in record else conversation
        unknown = sorted(set(record) - allowed[fmt])
        if unknown:
            raise FileRuleError(
                f"line {number}: unexpected field(s) {', '.join(unknown)} for the "
                f"{fmt.value} format (allowed: {', '.join(sorted(allowed[fmt]))})"
            )
        if fmt is preference:
            problem = _preference_problem(record, roles)
        else:
            messages = record.get("messages")
            problem = None
            if not isinstance(messages, list) or not messages:
                problem = "'messages' must be a non-empty list"
            else:
                for index, message in enumerate(messages, start=1):
                    found = _message_problem(message, roles)
                    if found:
                        problem = f"message {index}: {found}"
                        break
        if problem:
            raise FileRuleError(f"line {number}: {problem}")
        count += 1
    if not count:
        raise FileRuleError("the file holds no examples")
    return count
