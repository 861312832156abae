"""The judge: rubric scores from replies, pairwise verdicts asked twice with sides swapped."""

from __future__ import annotations

from typing import Any

import pytest

from training.evaluation import judge
from training.evaluation.client import ChatEndpoint
from training.evaluation.judge_format import parse_json_reply
from training.simulator import SimulatorServer

CRITERIA = [{"key": "accuracy", "name": "Accuracy", "description": "Correct"}]
PROMPT = [{"role": "user", "content": "What is the total of invoice 3?"}]
REFERENCE = {"role": "assistant", "content": "Invoice 3 totals 30 euros."}


@pytest.fixture
def endpoint(settings: Any) -> Any:
    settings.CURATOR_EVAL_RETRY_SECONDS = 0.01
    with SimulatorServer(port=0) as server:
        yield ChatEndpoint(
            base_url=server.base_url, api_key="sk-test", model="gpt-4o-mini", label="sim"
        )


def test_the_simulated_judge_scores_from_the_texts_it_is_shown(endpoint: ChatEndpoint) -> None:
    good = judge.score(
        endpoint,
        prompt=PROMPT,
        tools=None,
        response=REFERENCE,
        criteria=CRITERIA,
        reference=REFERENCE,
    )
    poor = judge.score(
        endpoint,
        prompt=PROMPT,
        tools=None,
        response={"role": "assistant", "content": "Please contact support."},
        criteria=CRITERIA,
        reference=REFERENCE,
    )
    assert good.scores == {"accuracy": 5} and poor.scores["accuracy"] < 3


def test_pairwise_asks_twice_and_agrees_whichever_side_comes_first(endpoint: ChatEndpoint) -> None:
    weak = {"role": "assistant", "content": "Hello, how can I help?"}
    first, second, winner, reasons = judge.pairwise(
        endpoint, prompt=PROMPT, tools=None, a=weak, b=REFERENCE, reference=REFERENCE
    )
    assert (first, second, winner) == ("b", "b", "b") and len(reasons) == 2


def test_verdicts_that_disagree_when_swapped_are_a_tie(
    endpoint: ChatEndpoint, monkeypatch: Any
) -> None:
    # A judge that always prefers whatever it sees first: position bias, cancelled out.
    monkeypatch.setattr(judge, "_winner", lambda _endpoint, _messages: ("A", "first is better"))
    first, second, winner, _ = judge.pairwise(
        endpoint, prompt=PROMPT, tools=None, a=REFERENCE, b=REFERENCE, reference=REFERENCE
    )
    assert (first, second, winner) == ("a", "b", "tie")


def test_judge_replies_are_read_even_when_wrapped_in_prose() -> None:
    assert parse_json_reply('Sure! ```json\n{"winner": "A"}\n```') == {"winner": "A"}
    assert parse_json_reply("no verdict") is None
    assert judge.prompt_template(CRITERIA).count("<<<RESPONSE>>>") == 1
