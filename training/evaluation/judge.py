"""The LLM judge: rubric scores (1 to 5 per criterion) and pairwise verdicts.

Prompts are versioned (``judge_format.JUDGE_PROMPT_VERSION``) and stored with each run, so
the page shows exactly what the judge was asked. Pairwise verdicts are asked twice, with the
sides swapped; when the two disagree the verdict is a tie (position bias cancels out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from training.evaluation import judge_format as jf
from training.evaluation.client import ChatEndpoint, Completion, EndpointError, complete
from training.evaluation.messages import text_of

RUBRIC_SYSTEM = (
    "You are an impartial judge of assistant replies. Score the RESPONSE on each criterion "
    "from 1 (very poor) to 5 (excellent), judging only from the texts below. When a "
    "REFERENCE is given it is a good reply written by a person; a response need not match it "
    "word for word. Ignore length: a longer reply is not better for being longer, nor a "
    "shorter one for being shorter. Reply with JSON only."
)
PAIRWISE_SYSTEM = (
    "You are an impartial judge comparing two assistant replies to the same conversation, "
    "judging only from the texts below. The order of the replies is random and says nothing "
    "about their quality: ignore which comes first. Ignore length: a longer reply is not "
    "better for being longer, nor a shorter one for being shorter. Reply with JSON only."
)
# Structured output where the endpoint takes it (OpenAI, Together, Fireworks, vLLM all read
# ``response_format``); an endpoint that refuses the parameter is asked again without it.
PAIRWISE_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "pairwise_verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "winner": {"type": "string", "enum": ["A", "B", "tie"]},
                "reason": {"type": "string"},
            },
            "required": ["winner", "reason"],
            "additionalProperties": False,
        },
    },
}
MAX_JUDGE_TOKENS = 600
# Pre-scoring training data: the dataset's own rubric, or this default.
DEFAULT_CRITERIA = [
    {"key": "completeness", "name": "Completeness", "description": "Answers everything asked."},
    {"key": "relevance", "name": "Relevance", "description": "Stays on the user's question."},
    {"key": "coherence", "name": "Coherence", "description": "Clear and well organised."},
    {"key": "accuracy", "name": "Accuracy", "description": "Correct and grounded."},
]


class JudgeError(ValueError):
    """The judge's reply could not be read as a verdict."""


def render_message(message: dict[str, Any]) -> str:
    parts = []
    text = text_of(message)
    if text:
        parts.append(text)
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append(f"[calls {function.get('name')}({function.get('arguments')})]")
    return "\n".join(parts) if parts else "(empty)"


def render_conversation(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    lines = []
    if tools:
        names = [str((tool.get("function") or {}).get("name")) for tool in tools]
        lines.append(f"(tools available: {', '.join(names)})")
    for message in messages:
        lines.append(f"{message.get('role', '?')}: {render_message(message)}")
    return "\n".join(lines)


def _criteria_block(criteria: list[dict[str, str]]) -> str:
    return "\n".join(
        f"- {c['key']}: {c['name']} — {c.get('description', '')}".rstrip(" —") for c in criteria
    )


def rubric_prompt(
    *,
    prompt: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    response: dict[str, Any],
    criteria: list[dict[str, str]],
    reference: dict[str, Any] | None,
) -> list[dict[str, str]]:
    keys = ", ".join(f'"{c["key"]}": 1-5' for c in criteria)
    body = [jf.section(jf.CONVERSATION, render_conversation(prompt, tools))]
    if reference is not None:
        body.append(jf.section(jf.REFERENCE, render_message(reference)))
    body.append(jf.section(jf.RESPONSE, render_message(response)))
    body.append(jf.section(jf.CRITERIA, _criteria_block(criteria)))
    body.append(f'Answer as {{"scores": {{{keys}}}, "reason": "one sentence"}}.')
    return [
        {"role": "system", "content": RUBRIC_SYSTEM},
        {"role": "user", "content": "\n\n".join(body)},
    ]


def pairwise_prompt(
    *,
    prompt: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    first: dict[str, Any],
    second: dict[str, Any],
    reference: dict[str, Any] | None,
) -> list[dict[str, str]]:
    body = [jf.section(jf.CONVERSATION, render_conversation(prompt, tools))]
    if reference is not None:
        body.append(jf.section(jf.REFERENCE, render_message(reference)))
    body.append(jf.section(jf.RESPONSE_A, render_message(first)))
    body.append(jf.section(jf.RESPONSE_B, render_message(second)))
    body.append('Which response is better? Answer as {"winner": "A" | "B" | "tie", "reason": "…"}.')
    return [
        {"role": "system", "content": PAIRWISE_SYSTEM},
        {"role": "user", "content": "\n\n".join(body)},
    ]


def prompt_template(criteria: list[dict[str, str]], *, pairwise: bool = False) -> str:
    """The judge prompt with placeholders, as shown beside a run or comparison."""
    placeholder = {"role": "user", "content": "…"}
    messages = (
        pairwise_prompt(
            prompt=[placeholder],
            tools=None,
            first={"content": "{reply A}"},
            second={"content": "{reply B}"},
            reference={"content": "{reference}"},
        )
        if pairwise
        else rubric_prompt(
            prompt=[placeholder],
            tools=None,
            response={"content": "{model reply}"},
            criteria=criteria,
            reference={"content": "{reference}"},
        )
    )
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


@dataclass
class RubricScore:
    scores: dict[str, int]
    mean: float
    reason: str


def rubric_schema(criteria: list[dict[str, str]]) -> dict[str, Any]:
    keys = [c["key"] for c in criteria]
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "rubric_scores",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "scores": {
                        "type": "object",
                        "properties": {key: {"type": "integer"} for key in keys},
                        "required": keys,
                        "additionalProperties": False,
                    },
                    "reason": {"type": "string"},
                },
                "required": ["scores", "reason"],
                "additionalProperties": False,
            },
        },
    }


def _ask(judge: ChatEndpoint, messages: list[dict[str, str]], schema: dict[str, Any]) -> Completion:
    try:
        return complete(
            judge,
            messages=messages,
            temperature=0.0,
            max_tokens=MAX_JUDGE_TOKENS,
            seed=0,
            response_format=schema,
        )
    except EndpointError as error:
        if error.transient or error.unreachable:
            raise
        # Refused, most likely for the response_format it does not know: ask plainly.
        return complete(
            judge, messages=messages, temperature=0.0, max_tokens=MAX_JUDGE_TOKENS, seed=0
        )


def score(
    judge: ChatEndpoint,
    *,
    prompt: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    response: dict[str, Any],
    criteria: list[dict[str, str]],
    reference: dict[str, Any] | None,
) -> RubricScore:
    completion = _ask(
        judge,
        rubric_prompt(
            prompt=prompt, tools=tools, response=response, criteria=criteria, reference=reference
        ),
        rubric_schema(criteria),
    )
    reply = jf.parse_json_reply(text_of(completion.message), expect="scores")
    raw = reply.get("scores") if reply else None
    if not isinstance(raw, dict):
        raise JudgeError(
            f"the judge did not answer with scores: {text_of(completion.message)[:200]!r}"
        )
    scores: dict[str, int] = {}
    for criterion in criteria:
        value = raw.get(criterion["key"])
        if isinstance(value, int | float) and not isinstance(value, bool):
            scores[criterion["key"]] = max(1, min(5, round(value)))
    if not scores:
        raise JudgeError(f"the judge scored none of the criteria: {json.dumps(raw)[:200]}")
    return RubricScore(
        scores=scores,
        mean=sum(scores.values()) / len(scores),
        reason=str(reply.get("reason", ""))[:1000] if reply else "",
    )


def _winner(judge: ChatEndpoint, messages: list[dict[str, str]]) -> tuple[str, str]:
    completion = _ask(judge, messages, PAIRWISE_SCHEMA)
    reply = jf.parse_json_reply(text_of(completion.message), expect="winner") or {}
    winner = str(reply.get("winner", "")).strip().upper()
    if winner not in {"A", "B", "TIE"}:
        raise JudgeError(f"the judge named no winner: {text_of(completion.message)[:200]!r}")
    return winner, str(reply.get("reason", ""))[:500]


def pairwise(
    judge: ChatEndpoint,
    *,
    prompt: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    a: dict[str, Any],
    b: dict[str, Any],
    reference: dict[str, Any] | None,
) -> tuple[str, str, str, list[str]]:
    """(first, second, winner, reasons) in terms of runs a and b: "a", "b" or "tie"."""
    first, reason_1 = _winner(
        judge, pairwise_prompt(prompt=prompt, tools=tools, first=a, second=b, reference=reference)
    )
    second, reason_2 = _winner(
        judge, pairwise_prompt(prompt=prompt, tools=tools, first=b, second=a, reference=reference)
    )
    as_run_1 = {"A": "a", "B": "b", "TIE": "tie"}[first]
    as_run_2 = {"A": "b", "B": "a", "TIE": "tie"}[second]
    winner = as_run_1 if as_run_1 == as_run_2 else "tie"
    return as_run_1, as_run_2, winner, [reason_1, reason_2]


__all__ = [
    "DEFAULT_CRITERIA",
    "EndpointError",
    "JudgeError",
    "RubricScore",
    "pairwise",
    "pairwise_prompt",
    "prompt_template",
    "rubric_prompt",
    "score",
]
