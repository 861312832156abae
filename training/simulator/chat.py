"""``POST /v1/chat/completions`` of the simulator: base models, its fine-tuned models, a judge.

Deterministic, so evaluations on the simulator give the same numbers every run:

- A fine-tuned model the simulator created (or one registered with
  :func:`remember_fine_tuned_model`) learned its training file only, never the validation
  file: asked a prompt it was trained on, it answers close to that example's reply (exactly,
  most of the time; otherwise a little shorter or longer). Asked anything else, it answers
  with the reply of the training example whose prompt shares the most words with it (a
  nearest neighbour), or as its base model would when nothing it learned is close. So it
  does well on prompts like its training data and can lose to its base on others.
- A base model answers plausibly and differently per prompt: an opening, a restatement of
  what was asked, advice and a closing, each drawn from several by the prompt's hash. It
  knows nothing of the dataset, so it rarely says what a reference says.
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
from collections import Counter
from typing import Any

from training.evaluation import judge_format as jf
from training.simulator.records import ApiError, new_id
from training.simulator.state import BASE_MODELS, MODEL_ALIASES, SimulatorState
from training.simulator_paths import FINGERPRINT

ENDPOINT = "chat.completions"

_WORD = re.compile(r"\w+", re.UNICODE)
# The base model's parts of speech; each reply draws one of each by the prompt's hash, so
# two prompts rarely get the same reply and none reads as one fixed template.
OPENINGS = (
    "Thanks for getting in touch.",
    "Happy to help with that.",
    "Sorry to hear you're running into this.",
    "Good question.",
    "Let's sort this out.",
    "I can help you with this.",
    "Thanks for the details.",
    "Understood.",
)
RESTATEMENTS = (
    "You're asking about {topic}.",
    "It sounds like the issue is with {topic}.",
    "When it comes to {topic}, a few things usually matter.",
    "Regarding {topic}:",
    "So this is about {topic}.",
)
ADVICE = (
    "Usually the quickest fix is to sign out, sign back in and try again.",
    "Check that your app is up to date, since older versions behave differently.",
    "Most settings for this live under your account preferences.",
    "If you changed anything recently, undoing that change is a good first test.",
    "Our help centre has a step-by-step guide for this.",
    "It can take a few minutes for changes to show up everywhere.",
    "Clearing the cache of the browser or app often helps.",
    "An administrator on your workspace may need to allow this first.",
    "You can also see the current state of your account on the dashboard.",
    "Please avoid sharing passwords or full card numbers here.",
)
CLOSINGS = (
    "Let me know if that helps.",
    "Is there anything else I can do for you?",
    "If it keeps happening, reply with what you see and I'll look further.",
    "Feel free to follow up with more details.",
    "",
    "Hope that gets you going!",
)
# How much of a prompt's words a training prompt must share (F1) for a fine-tune to answer
# with its reply rather than as its base would.
NEIGHBOUR_THRESHOLD = 0.2


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


class Memory:
    """What a fine-tune learned: each training prompt's reply, by exact prompt and by words."""

    def __init__(self, examples: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]) -> None:
        self.exact = {key: reply for key, (_, reply) in examples.items()}
        # Word counts per training prompt, counted once (a request only intersects them).
        self.by_words = [
            (Counter(words), len(words), reply)
            for words, reply in ((_prompt_words(p), r) for p, r in examples.values())
        ]

    def __contains__(self, key: str) -> bool:
        return key in self.exact

    def nearest(self, messages: list[dict[str, Any]]) -> tuple[float, dict[str, Any] | None]:
        """The reply of the training prompt sharing the most words with ``messages`` (their
        word-overlap F1; the first such prompt in file order on a tie)."""
        asked = _prompt_words(messages)
        counts, size = Counter(asked), len(asked)
        best: tuple[float, dict[str, Any] | None] = (0.0, None)
        if not size:
            return best
        for prompt, length, reply in self.by_words:
            overlap = sum((counts & prompt).values())
            if not overlap:
                continue
            score = 2 * overlap / (size + length)
            if score > best[0]:
                best = (score, reply)
        return best


def _prompt_words(messages: list[dict[str, Any]]) -> list[str]:
    """The words a neighbour is found by: the last user turn counts most (twice), the rest
    of the conversation once; system prompts not at all (they are the same everywhere)."""
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    context = [
        m for m in messages if isinstance(m, dict) and m.get("role") not in {"system", "developer"}
    ]
    last = _words(_text(users[-1].get("content"))) if users else []
    return last + last + [w for m in context for w in _words(_text(m.get("content")))]


def _examples_from_jsonl(data: bytes) -> Memory:
    """Every assistant turn of every line, with the turns before it as its prompt; for a
    preference line, its preferred output after its input (what DPO pushes the model to)."""
    memory: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}
    for line in data.splitlines():
        try:
            example = json.loads(line)
        except ValueError:
            continue
        if not isinstance(example, dict):
            continue
        given, preferred = example.get("input"), example.get("preferred_output")
        if isinstance(given, dict) and isinstance(preferred, list) and preferred:
            prompt = given.get("messages")
            if isinstance(prompt, list) and prompt and isinstance(preferred[0], dict):
                memory[_prompt_key(prompt)] = (prompt, preferred[0])
            continue
        messages = example.get("messages")
        if not isinstance(messages, list):
            continue
        for index, message in enumerate(messages):
            if isinstance(message, dict) and message.get("role") == "assistant" and index:
                prompt = messages[:index]
                memory[_prompt_key(prompt)] = (prompt, message)
    return Memory(memory)


def _memories(state: SimulatorState) -> dict[str, Memory]:
    # Kept on the state object so every server has its own; built lazily per model.
    return state.__dict__.setdefault("chat_memories", {})


def remember_fine_tuned_model(
    state: SimulatorState, *, name: str, base: str, examples: list[dict[str, Any]]
) -> None:
    """Teach the simulator a fine-tuned model it did not train in this process (a restart,
    or the demo): ``examples`` are its training lines ({"messages": [...]}) and nothing else
    (a model taught its validation lines would win evaluations by construction)."""
    data = b"\n".join(json.dumps(example).encode() for example in examples)
    with state._lock:
        state._fine_tuned_models[name] = base
        _memories(state)[name] = _examples_from_jsonl(data)


def _memory_of(state: SimulatorState, model: str) -> Memory | None:
    """The examples a fine-tuned model was trained on (its training file, never its
    validation file); None for a model not fine-tuned here."""
    with state._lock:
        memories = _memories(state)
        if model in memories:
            return memories[model]
        state.advance_all()
        for job in state._jobs.values():
            if job.fine_tuned_model == model:
                stored = state._files.get(job.training_file)
                memories[model] = _examples_from_jsonl(stored.data if stored else b"")
                return memories[model]
        return None


def _similarity(response: str, reference: str) -> float:
    """Word-overlap F1 of two texts, 0..1."""
    return _overlap(_words(response), _words(reference))


def _overlap(a: list[str], b: list[str]) -> float:
    """Word-overlap F1 of two word lists, 0..1."""
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


_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "have",
        "hi",
        "hello",
        "how",
        "i",
        "i'm",
        "im",
        "in",
        "is",
        "it",
        "its",
        "my",
        "me",
        "of",
        "on",
        "or",
        "our",
        "please",
        "so",
        "that",
        "the",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yes",
        "no",
        "not",
        "just",
        "there",
        "their",
        "them",
        "they",
        "thanks",
        "thank",
    ]
)


def _topic(text: str) -> str:
    """A few content words of the question, in its own order: what a reply restates."""
    words = [w for w in _words(text) if w not in _STOPWORDS and not w.isdigit()]
    return " ".join(words[:4]) or "your request"


def _generic(messages: list[dict[str, Any]], digest: int) -> dict[str, Any]:
    """A base model's reply: plausible, polite, shaped by the prompt, never the dataset's."""
    last_user = next(
        (_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    parts = [OPENINGS[digest % len(OPENINGS)]]
    parts.append(RESTATEMENTS[(digest >> 4) % len(RESTATEMENTS)].format(topic=_topic(last_user)))
    first = (digest >> 8) % len(ADVICE)
    parts.append(ADVICE[first])
    if (digest >> 12) % 3:
        parts.append(ADVICE[(first + 1 + (digest >> 14) % (len(ADVICE) - 1)) % len(ADVICE)])
    parts.append(CLOSINGS[(digest >> 18) % len(CLOSINGS)])
    return {"role": "assistant", "content": " ".join(part for part in parts if part)}


def _resolve(
    state: SimulatorState, model: Any, bases: frozenset[str] | None = None
) -> tuple[str, Memory | None]:
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model")
    if bases is not None:
        if model in bases:
            return model, None
    elif model in BASE_MODELS or model in MODEL_ALIASES:
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


def chat_completions(
    state: SimulatorState,
    body: dict[str, Any],
    *,
    served: str | None = None,
    bases: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The reply body to a chat completion request's JSON body.

    ``served``: the model that answers when the request names something else (an Azure
    deployment, a dedicated endpoint); ``bases``: the base models of the API shape asked
    (OpenAI's by default)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "Missing required parameter: 'messages'.", param="messages")
    model, memory = _resolve(state, served or body.get("model"), bases)
    if served:
        model = str(body.get("model"))
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
        message = _variant(memory.exact[key], digest)
    else:
        score, reply = memory.nearest(messages) if memory is not None else (0.0, None)
        if reply is not None and score >= NEIGHBOUR_THRESHOLD:
            message = _variant(reply, digest)
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
