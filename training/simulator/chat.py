"""``POST /v1/chat/completions`` of the simulator: base models, its fine-tuned models, a judge.

Deterministic, so evaluations on the simulator give the same numbers every run:

- A fine-tuned model the simulator created (or one registered with
  :func:`remember_fine_tuned_model`) knows the examples of its training and validation files:
  asked a prompt from them, it answers close to that example's reference (exactly, most of
  the time; otherwise a little shorter or longer). Other prompts get the base model's answer.
- A base model answers generically: polite, on topic words, never the reference.
- A judge request (a prompt written with :mod:`training.evaluation.judge_format`) is judged
  from the texts shown in it only: word overlap of a response with the reference, or with the
  conversation when there is no reference. Which model wrote a response is never known here.

Latency is ``state.chat_latency`` seconds per request (set by the command line or a test);
faults use the ``chat.completions`` endpoint name like every other endpoint.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

from training.evaluation import judge_format as jf
from training.simulator.records import ApiError, new_id
from training.simulator.state import BASE_MODELS, MODEL_ALIASES, SimulatorState

ENDPOINT = "chat.completions"
# Marks every reply, so a client can label results as simulated.
FINGERPRINT = "curator-simulator"

_WORD = re.compile(r"\w+", re.UNICODE)
GENERIC_REPLIES = (
    "Thanks for reaching out! I'd be happy to help. Could you share a few more details about "
    "what you are seeing, so I can point you in the right direction?",
    "I understand. In general, the best first step is to check your settings and try again. "
    "If the problem continues, please contact support with more information.",
    "Good question! There are several ways to approach this, depending on your setup. "
    "Let me know more about your situation and I can give more specific advice.",
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _prompt_key(messages: list[dict[str, Any]]) -> str:
    """A prompt's identity: its non-system turns (a prepended system prompt does not matter)."""
    turns = [
        [
            m.get("role"),
            " ".join(_text(m.get("content")).split()),
            [
                [c.get("function", {}).get("name"), c.get("function", {}).get("arguments")]
                for c in m.get("tool_calls") or []
            ],
        ]
        for m in messages
        if m.get("role") not in {"system", "developer"}
    ]
    return hashlib.sha256(json.dumps(turns, sort_keys=True).encode()).hexdigest()


def _examples_from_jsonl(data: bytes) -> dict[str, dict[str, Any]]:
    """Prompt key -> reference assistant message, for every assistant turn of every line."""
    memory: dict[str, dict[str, Any]] = {}
    for line in data.splitlines():
        try:
            example = json.loads(line)
        except ValueError:
            continue
        messages = example.get("messages") if isinstance(example, dict) else None
        if not isinstance(messages, list):
            continue
        for index, message in enumerate(messages):
            if isinstance(message, dict) and message.get("role") == "assistant":
                memory[_prompt_key(messages[:index])] = message
    return memory


def _memories(state: SimulatorState) -> dict[str, dict[str, dict[str, Any]]]:
    # Kept on the state object so every server has its own; built lazily per model.
    return state.__dict__.setdefault("chat_memories", {})


def remember_fine_tuned_model(
    state: SimulatorState, *, name: str, base: str, examples: list[dict[str, Any]]
) -> None:
    """Teach the simulator a fine-tuned model it did not train in this process (a restart,
    or the demo): ``examples`` are training lines ({"messages": [...]})."""
    data = b"\n".join(json.dumps(example).encode() for example in examples)
    with state._lock:
        state._fine_tuned_models[name] = base
        _memories(state)[name] = _examples_from_jsonl(data)


def _memory_of(state: SimulatorState, model: str) -> dict[str, dict[str, Any]] | None:
    """The examples a fine-tuned model was trained on; None for a model not fine-tuned here."""
    with state._lock:
        memories = _memories(state)
        if model in memories:
            return memories[model]
        state.advance_all()
        for job in state._jobs.values():
            if job.fine_tuned_model == model:
                data = b""
                for file_id in (job.training_file, job.validation_file):
                    stored = state._files.get(file_id) if file_id else None
                    if stored is not None:
                        data += stored.data + b"\n"
                memories[model] = _examples_from_jsonl(data)
                return memories[model]
        return None


def _similarity(response: str, reference: str) -> float:
    """Word-overlap F1 of two texts, 0..1."""
    a, b = _words(response), _words(reference)
    if not a or not b:
        return 1.0 if a == b else 0.0
    common: dict[str, int] = {}
    for word in b:
        common[word] = common.get(word, 0) + 1
    overlap = 0
    for word in a:
        if common.get(word, 0) > 0:
            overlap += 1
            common[word] -= 1
    if not overlap:
        return 0.0
    precision, recall = overlap / len(a), overlap / len(b)
    return 2 * precision * recall / (precision + recall)


def _score(similarity: float) -> int:
    return max(1, min(5, 1 + round(4 * similarity)))


def judge_reply(prompt: str) -> str | None:
    """The simulator's verdict on a judge prompt, or None when the prompt is not one."""
    conversation = jf.read_section(prompt, jf.CONVERSATION)
    if conversation is None:
        return None
    reference = jf.read_section(prompt, jf.REFERENCE)
    first, second = jf.read_section(prompt, jf.RESPONSE_A), jf.read_section(prompt, jf.RESPONSE_B)
    if first is not None and second is not None:
        target = reference if reference is not None else conversation
        a, b = _similarity(first, target), _similarity(second, target)
        winner = "tie" if abs(a - b) < 0.05 else ("A" if a > b else "B")
        return json.dumps(
            {"winner": winner, "reason": f"overlap with the reference {a:.2f} vs {b:.2f}"}
        )
    response = jf.read_section(prompt, jf.RESPONSE) or ""
    if reference is not None:
        similarity = _similarity(response, reference)
    else:
        # No reference (pre-scoring training data): an on-topic, substantial reply scores well.
        topical = _similarity(response, conversation)
        length = min(1.0, len(_words(response)) / 25)
        similarity = 0.35 + 0.4 * length + 0.5 * topical
    keys = jf.criteria_keys(prompt) or ["overall"]
    scores = {key: _score(similarity) for key in keys}
    return json.dumps({"scores": scores, "reason": f"word overlap {similarity:.2f}"})


def _variant(reference: dict[str, Any], digest: int) -> dict[str, Any]:
    """The reference, or a close paraphrase of it (chosen by the prompt's hash)."""
    if reference.get("tool_calls"):
        calls = [
            {
                "id": new_id("call_", 24),
                "type": "function",
                "function": dict(call.get("function") or {}),
            }
            for call in reference["tool_calls"]
        ]
        return {"role": "assistant", "content": None, "tool_calls": calls}
    text = _text(reference.get("content"))
    choice = digest % 10
    if choice >= 7:
        sentences = re.split(r"(?<=[.!?])\s+", text.strip())
        text = (
            " ".join(sentences[:-1])
            if len(sentences) > 1
            else text + " Let me know if you need anything else."
        )
    return {"role": "assistant", "content": text}


def _generic(messages: list[dict[str, Any]], digest: int) -> dict[str, Any]:
    last_user = next(
        (_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    topic = " ".join(_words(last_user)[:6])
    reply = GENERIC_REPLIES[digest % len(GENERIC_REPLIES)]
    if topic:
        reply = f"About “{topic}”: {reply}"
    return {"role": "assistant", "content": reply}


def _resolve(state: SimulatorState, model: Any) -> tuple[str, dict[str, dict[str, Any]] | None]:
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model")
    if model in BASE_MODELS or model in MODEL_ALIASES:
        return MODEL_ALIASES.get(model, model), None
    memory = _memory_of(state, model)
    if memory is None:
        raise ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return model, memory


def _tokens(text: str) -> int:
    return max(1, round(len(_words(text)) * 1.3))


def chat_completions(state: SimulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """The reply body to a chat completion request's JSON body."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "Missing required parameter: 'messages'.", param="messages")
    model, memory = _resolve(state, body.get("model"))
    latency = float(getattr(state, "chat_latency", 0.0) or 0.0)
    if latency > 0:
        time.sleep(latency)
    key = _prompt_key(messages)
    digest = int(key[:8], 16)
    last = _text(messages[-1].get("content")) if isinstance(messages[-1], dict) else ""
    verdict = judge_reply(last) if last else None
    if verdict is not None:
        message: dict[str, Any] = {"role": "assistant", "content": verdict}
    elif memory is not None and key in memory:
        message = _variant(memory[key], digest)
    else:
        message = _generic(messages, digest)
    prompt_tokens = sum(_tokens(_text(m.get("content"))) for m in messages if isinstance(m, dict))
    completion = _tokens(message.get("content") or json.dumps(message.get("tool_calls")))
    return {
        "id": new_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": int(state.clock()),
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": {**message, "refusal": None},
                "logprobs": None,
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }
