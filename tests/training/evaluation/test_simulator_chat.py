"""The simulator's chat completions: deterministic answers, unknown models, faults, latency."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from training.simulator import SimulatorServer
from training.simulator.chat import FINGERPRINT, remember_fine_tuned_model

PROMPT = [
    {"role": "system", "content": "You answer questions about invoices."},
    {"role": "user", "content": "What is the total of invoice 3?"},
]
REFERENCE = "Invoice 3 totals 30 euros."


@pytest.fixture
def server() -> Any:
    with SimulatorServer(port=0) as server:
        yield server


def client(server: SimulatorServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=5)


def ask(server: SimulatorServer, model: str, messages: list[dict] = PROMPT) -> Any:
    return client(server).chat.completions.create(model=model, messages=messages)


def test_a_finetune_answers_its_own_prompts_close_to_the_reference_and_a_base_does_not(
    server: SimulatorServer,
) -> None:
    remember_fine_tuned_model(
        server.state,
        name="ft:gpt-4o-mini-2024-07-18:x::1",
        base="gpt-4o-mini-2024-07-18",
        examples=[{"messages": [*PROMPT, {"role": "assistant", "content": REFERENCE}]}],
    )
    tuned = ask(server, "ft:gpt-4o-mini-2024-07-18:x::1")
    assert REFERENCE.rstrip(".") in tuned.choices[0].message.content
    assert tuned.system_fingerprint == FINGERPRINT and tuned.usage.total_tokens > 0
    # The system prompt does not matter; the same prompt always gets the same answer.
    again = ask(server, "ft:gpt-4o-mini-2024-07-18:x::1", PROMPT[1:])
    assert again.choices[0].message.content == tuned.choices[0].message.content
    base = ask(server, "gpt-4o-mini-2024-07-18")
    assert "30 euros" not in base.choices[0].message.content
    unknown = ask(server, "ft:gpt-4o-mini-2024-07-18:x::1", [{"role": "user", "content": "Hi?"}])
    assert "30 euros" not in unknown.choices[0].message.content


def test_an_unknown_model_is_a_404(server: SimulatorServer) -> None:
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        ask(server, "ft:nobody")


def test_faults_and_latency_are_injectable(server: SimulatorServer) -> None:
    server.set_faults("chat.completions=429")
    with pytest.raises(openai.RateLimitError):
        ask(server, "gpt-4o-mini")
    server.state.chat_latency = 0.3
    started = time.monotonic()
    ask(server, "gpt-4o-mini")
    assert time.monotonic() - started >= 0.3
