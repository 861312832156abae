"""A simulated fine-tune learns from its training file only: it answers unseen prompts from the
nearest training example, never from the validation file, and so it can be wrong. Base models
answer plausibly and differently per prompt, not from one template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai

from tests.training.conftest import TEST_KEY, FakeClock, write_jsonl
from training.simulator import SimulatorServer
from training.simulator.chat import remember_fine_tuned_model

BASE = "gpt-4o-mini-2024-07-18"


def invoice(index: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"What is the total of invoice {index}?"},
            {"role": "assistant", "content": f"Invoice {index} totals {index * 10} euros."},
        ]
    }


HELD_OUT = {
    "messages": [
        {"role": "user", "content": "Which plan includes priority phone support?"},
        {"role": "assistant", "content": "Only the Business plan includes priority phone support."},
    ]
}


def client(server: SimulatorServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=0, timeout=5)


def ask(server: SimulatorServer, model: str, question: str) -> str:
    reply = client(server).chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}]
    )
    return str(reply.choices[0].message.content)


def trained(server: SimulatorServer, clock: FakeClock, tmp_path: Path) -> str:
    """A fine-tune trained on twelve invoices, with HELD_OUT in its validation file."""
    api = client(server)
    train = api.files.create(
        file=write_jsonl(tmp_path / "train.jsonl", [invoice(i) for i in range(12)]).open("rb"),
        purpose="fine-tune",
    )
    validation = api.files.create(
        file=write_jsonl(tmp_path / "validation.jsonl", [HELD_OUT] * 3).open("rb"),
        purpose="fine-tune",
    )
    job = api.fine_tuning.jobs.create(
        model=BASE, training_file=train.id, validation_file=validation.id
    )
    clock.advance(100_000)
    job = api.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded" and job.fine_tuned_model
    return job.fine_tuned_model


def test_a_finetune_never_learns_its_validation_file(
    simulator: SimulatorServer, clock: FakeClock, tmp_path: Path
) -> None:
    model = trained(simulator, clock, tmp_path)
    answer = ask(simulator, model, "Which plan includes priority phone support?")
    assert "Business plan" not in answer


def test_a_finetune_answers_an_unseen_prompt_from_its_nearest_training_example(
    simulator: SimulatorServer, clock: FakeClock, tmp_path: Path
) -> None:
    model = trained(simulator, clock, tmp_path)
    answer = ask(simulator, model, "Hello, what is the total of invoice 7 please?")
    assert "Invoice 7 totals 70 euros" in answer
    # Near is not right: invoice 99 was never trained on, so the reply is another invoice's.
    wrong = ask(simulator, model, "What is the total of invoice 99?")
    assert "totals" in wrong and "990" not in wrong


def test_base_models_answer_each_prompt_differently_and_on_topic(
    simulator: SimulatorServer,
) -> None:
    topics = [
        "refund", "password", "invoice", "storage", "sharing", "firewall", "archive",
        "subscription", "upload", "backup", "calendar", "printer", "wifi", "shipping",
        "warranty", "discount", "delivery", "account", "export", "import",
    ]  # fmt: skip
    answers = [
        ask(simulator, BASE, f"I have a question about my {topic} settings.") for topic in topics
    ]
    assert len(set(answers)) == len(answers)
    assert all(topic in answer.lower() for topic, answer in zip(topics, answers, strict=True))
    openings = {answer.split(".")[0] for answer in answers}
    assert len(openings) > 4


def test_a_preference_finetune_answers_with_what_it_was_taught_to_prefer(
    simulator: SimulatorServer,
) -> None:
    question = [{"role": "user", "content": "Can I get a refund for last month?"}]
    remember_fine_tuned_model(
        simulator.state,
        name="ft:gpt-4o-mini-2024-07-18:x:dpo:1",
        base=BASE,
        examples=[
            {
                "input": {"messages": question},
                "preferred_output": [{"role": "assistant", "content": "Yes, within 30 days."}],
                "non_preferred_output": [{"role": "assistant", "content": "No refunds ever."}],
            }
        ],
    )
    answer = ask(simulator, "ft:gpt-4o-mini-2024-07-18:x:dpo:1", question[0]["content"])
    assert "within 30 days" in answer and "No refunds" not in answer
