"""The simulator's fault scripts per API shape, and the command's port from the setting."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.training.conftest import chat_example
from training.management.commands.run_openai_simulator import configured_port
from training.simulator import FaultSpecError, SimulatorServer
from training.simulator.faults import FaultPlan


def test_an_unprefixed_fault_scripts_each_shape_separately() -> None:
    plan = FaultPlan("jobs.create=500,timeout")

    assert [str(plan.take("jobs.create", "together")) for _ in range(3)] == [
        "500",
        "timeout",
        "None",
    ]
    assert str(plan.take("jobs.create", "fireworks")) == "500"
    assert str(plan.take("jobs.create", "openai")) == "500"


def test_a_shape_prefix_scripts_that_shape_only() -> None:
    plan = FaultPlan("together:jobs.create=503")

    assert plan.take("jobs.create", "openai") is None
    assert plan.take("jobs.create", "fireworks") is None
    assert str(plan.take("jobs.create", "together")) == "503"


def test_an_unknown_shape_is_named_in_the_error() -> None:
    with pytest.raises(FaultSpecError, match="unknown API shape 'mistral'"):
        FaultPlan("mistral:jobs.create=500")


def test_the_command_serves_on_the_port_the_app_calls(settings: Any) -> None:
    settings.CURATOR_SIMULATOR_URL = "http://127.0.0.1:9612/v1"

    assert configured_port() == 9612


def test_azure_create_calls_have_a_fault_queue_of_their_own() -> None:
    plan = FaultPlan("jobs.create=500;azure:jobs.create=timeout")

    assert [str(plan.take("jobs.create", "azure")) for _ in range(3)] == ["500", "timeout", "None"]
    assert [str(plan.take("jobs.create", "openai")) for _ in range(2)] == ["500", "None"]


def test_a_fault_scripted_for_azure_hits_its_path_and_not_openais() -> None:
    with SimulatorServer(port=0, faults="azure:jobs.create=500") as server:
        body = {"model": "gpt-4o-mini", "training_file": "file-missing"}
        azure = httpx.post(
            f"{server.url}/openai/v1/fine_tuning/jobs", json=body, headers={"api-key": "k"}
        )
        plain = httpx.post(
            f"{server.url}/v1/fine_tuning/jobs", json=body, headers={"authorization": "Bearer k"}
        )
    assert azure.status_code == 500
    # OpenAI's own path answered the request itself (here: the file does not exist).
    assert plain.status_code == 400
    assert ("azure:jobs.create", "500") in server.state.request_log


def test_azure_and_openai_are_separate_accounts(tmp_path: Any) -> None:
    lines = [json.dumps(chat_example(i)) for i in range(12)]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    with SimulatorServer(port=0) as server:
        azure = openai.OpenAI(
            api_key="unused",
            base_url=f"{server.url}/openai/v1",
            default_headers={"api-key": "k"},
            max_retries=0,
        )
        plain = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0)
        uploaded = azure.files.create(
            file=(tmp_path / "train.jsonl").open("rb"), purpose="fine-tune"
        )
        job = azure.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=uploaded.id)
        assert [j.id for j in azure.fine_tuning.jobs.list()] == [job.id]
        assert list(plain.fine_tuning.jobs.list()) == []
        with pytest.raises(openai.NotFoundError):
            plain.fine_tuning.jobs.retrieve(job.id)
