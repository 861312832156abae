"""DPO on OpenAI-compatible providers through the simulator: `finetune --method dpo --beta`
sends OpenAI's method block, the simulator validates the preference files, and the method
must match the version's kind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import CommandError

from curation.models import ConversationStatus
from curation.services.versions.build import run_build_job
from curation.services.versions.preview import create_version, normalize_filter
from tests.factories import ConversationFactory, PreferencePairFactory, built_version, chat
from tests.training.test_finetune_cli_lora import MODEL, fast, run  # noqa: F401
from training.models import FineTuneJob
from training.simulator import SimulatorServer, TrainingFileError, summarize_training_file

pytestmark = pytest.mark.django_db

OPENAI_MODEL = "gpt-4.1-mini-2025-04-14"


# Prompts that differ in words, not only in numbers: examples that differ only in numbers
# count as near-duplicates and are kept in one split.
TOPICS = [
    "apples",
    "bananas",
    "cherries",
    "dates",
    "elderberries",
    "figs",
    "grapes",
    "honeydew",
    "kiwis",
    "lemons",
    "mangoes",
    "nectarines",
    "oranges",
    "papayas",
    "quinces",
    "raspberries",
    "strawberries",
    "tangerines",
    "tomatoes",
    "walnuts",
    "almonds",
    "peanuts",
    "carrots",
    "potatoes",
]


def preference_version(dataset: Any, pairs: int = 24) -> Any:
    # Splits follow each id's hash: 24 pairs leave at least 10 for training whatever the ids.
    for number in range(pairs):
        topic = TOPICS[number]
        conversation = ConversationFactory(
            dataset=dataset,
            status=ConversationStatus.APPROVED,
            original=chat(user=f"How do I store {topic}?", assistant=f"Keep {topic} cool."),
        )
        PreferencePairFactory(
            conversation=conversation,
            alternative=[{"role": "assistant", "content": f"Throw the {topic} away."}],
        )
    version = create_version(
        dataset=dataset,
        user=None,
        filter=normalize_filter(),
        enqueue=False,
        validation_fraction=0.2,
        format="preference",
    )
    run_build_job(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == "succeeded", version.error
    return version


def test_dpo_with_beta_trains_on_a_preference_version_through_the_openai_api(
    fast: SimulatorServer,  # noqa: F811
    dataset: Any,
) -> None:
    version = preference_version(dataset)
    out = run("--dataset", dataset.slug, "--version", str(version.number), "--provider", "openai",
              "--model", OPENAI_MODEL, "--method", "dpo", "--beta", "0.2", "--wait", "--json")  # fmt: skip
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "succeeded", summary
    job = FineTuneJob.objects.get(pk=summary["job"])
    assert job.method == "dpo" and job.hyperparameters["dpo_beta"] == 0.2
    [remote] = fast.state.shape_jobs("openai")
    assert remote.extra["method"] == {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}


def test_dpo_on_together_sends_the_preference_files(fast: SimulatorServer, dataset: Any) -> None:  # noqa: F811
    version = preference_version(dataset)
    out = run("--dataset", dataset.slug, "--version", str(version.number), "--provider",
              "together", "--model", MODEL, "--method", "dpo", "--wait", "--json")  # fmt: skip
    assert json.loads(out.strip().splitlines()[-1])["status"] == "succeeded"
    [remote] = fast.state.shape_jobs("together")
    assert remote.extra["training_method"]["method"] == "dpo"


def test_the_method_must_match_the_version_kind(fast: SimulatorServer, dataset: Any) -> None:  # noqa: F811
    built_version(dataset)
    with pytest.raises(CommandError, match="DPO trains on a preference version"):
        run("--dataset", dataset.slug, "--version", "1", "--provider", "openai",
            "--model", OPENAI_MODEL, "--method", "dpo")  # fmt: skip
    preference = preference_version(dataset)
    with pytest.raises(CommandError, match="train it with the DPO method"):
        run("--dataset", dataset.slug, "--version", str(preference.number), "--provider",
            "openai", "--model", OPENAI_MODEL)  # fmt: skip
    with pytest.raises(CommandError, match="--beta is for --method dpo only"):
        run("--dataset", dataset.slug, "--version", "1", "--provider", "openai",
            "--model", OPENAI_MODEL, "--beta", "0.1")  # fmt: skip


def test_the_simulator_validates_dpo_files_line_by_line() -> None:
    good = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
    }
    data = "".join(json.dumps(good) + "\n" for _ in range(10)).encode()
    assert summarize_training_file(data, method="dpo").examples == 10
    chat_line = json.dumps({"messages": [{"role": "user", "content": "Hi"}]})
    with pytest.raises(TrainingFileError, match=r"Line 11: missing 'input\.messages'"):
        summarize_training_file(data + chat_line.encode() + b"\n", method="dpo")
    bad = {**good, "non_preferred_output": [{"role": "user", "content": "x"}]}
    with pytest.raises(TrainingFileError, match="Line 1, non_preferred_output message 1"):
        summarize_training_file(json.dumps(bad).encode(), method="dpo")
    with pytest.raises(TrainingFileError, match="missing 'messages'"):
        summarize_training_file(data)
