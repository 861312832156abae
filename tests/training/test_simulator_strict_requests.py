"""The simulator's Together and Fireworks shapes refuse what the real services refuse: each
invalid request below answers the vendor's kind of error (status and body shape) and makes
no job. Valid requests are built with the vendors' own SDKs, so green means the SDK's request
passes the same checks."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import fireworks
import httpx
import pytest
import together
from together.lib.resources.fine_tuning import create_finetune_request
from together.types.finetune_model_limits import FinetuneModelLimits

from tests.training.conftest import chat_example, write_jsonl
from training.simulator import SimulatorServer

TOGETHER_MODEL = "meta-llama/Llama-3.2-3B-Instruct"
FIREWORKS_MODEL = "accounts/fireworks/models/llama-v3p2-3b-instruct"
ACCOUNT = "curator-sim"
KEY = "sk-test-strict"


def together_client(server: SimulatorServer) -> together.Together:
    return together.Together(api_key=KEY, base_url=f"{server.url}/together", max_retries=0)


def fireworks_client(server: SimulatorServer) -> fireworks.Fireworks:
    return fireworks.Fireworks(
        api_key=KEY, account_id=ACCOUNT, base_url=f"{server.url}/fireworks", max_retries=0
    )


def jobs_of(server: SimulatorServer, shape: str) -> list[dict[str, Any]]:
    return server.state.jobs_by_shape()[shape]


# -- Together --------------------------------------------------------------------------------


def together_body(server: SimulatorServer, training_file: str, **changes: Any) -> dict[str, Any]:
    """The body client.fine_tuning.create sends, built by the SDK itself, then changed."""
    limits = together_client(server).fine_tuning.model_limits(model_name=TOGETHER_MODEL)
    request, _, _ = create_finetune_request(
        FinetuneModelLimits.model_validate(limits.model_dump(by_alias=True)),
        training_file=training_file,
        model=TOGETHER_MODEL,
        lora=True,
        batch_size=8,
    )
    body = request.model_dump(exclude_none=True)
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return body


@pytest.fixture
def together_file(simulator: SimulatorServer, tmp_path: Path) -> str:
    path = write_jsonl(tmp_path / "train.jsonl", [chat_example(i) for i in range(12)])
    return together_client(simulator).files.upload(path, purpose="fine-tune", check=False).id


def test_together_serves_its_limits_as_the_sdk_reads_them(simulator: SimulatorServer) -> None:
    limits = together_client(simulator).fine_tuning.model_limits(model_name=TOGETHER_MODEL)
    assert limits.max_num_epochs == 20
    assert limits.lora_training.max_rank == 64
    assert limits.lora_training.min_batch_size == 8
    with pytest.raises(together.NotFoundError):
        together_client(simulator).fine_tuning.model_limits(model_name="meta-llama/Not-A-Model")


def test_together_takes_the_sdks_own_request(
    simulator: SimulatorServer, together_file: str
) -> None:
    response = httpx.post(
        f"{simulator.url}/together/v1/fine-tunes",
        json=together_body(simulator, together_file),
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 200, response.text
    assert len(jobs_of(simulator, "together")) == 1


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"n_epochs": 50}, "n_epochs"),
        ({"batch_size": 2}, "batch_size"),
        ({"training_type__lora_r": 512}, "lora_r"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"max_seq_length": 10_000_000}, "max_seq_length"),
    ],
)
def test_together_refuses_settings_outside_the_model_limits(
    simulator: SimulatorServer, together_file: str, changes: dict[str, Any], named: str
) -> None:
    response = httpx.post(
        f"{simulator.url}/together/v1/fine-tunes",
        json=together_body(simulator, together_file, **changes),
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert named in error["message"] and error["type"] == "invalid_request_error"
    assert jobs_of(simulator, "together") == []


PREFERENCE_PROMPT = {"messages": [{"role": "user", "content": "Which plan has more storage?"}]}
ONE = [{"role": "assistant", "content": "The Team plan."}]
TWO = [*ONE, {"role": "assistant", "content": "Also the Business plan."}]
EMPTY = [{"role": "assistant", "content": ""}]


def preference(preferred: Any, rejected: Any) -> dict[str, Any]:
    return {
        "input": PREFERENCE_PROMPT,
        "preferred_output": preferred,
        "non_preferred_output": rejected,
    }


BAD_LINES = {
    "developer role": {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            *chat_example(1)["messages"][1:],
        ]
    },
    "parallel_tool_calls": {**chat_example(1), "parallel_tool_calls": False},
    "two preferred messages": preference(TWO, ONE),
    "an empty rejected output": preference(ONE, EMPTY),
    "no rejected message": preference(ONE, []),
}


@pytest.mark.parametrize("problem", sorted(BAD_LINES))
def test_together_refuses_a_file_its_dataset_rules_refuse(
    simulator: SimulatorServer, tmp_path: Path, problem: str
) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [chat_example(0), BAD_LINES[problem]])
    with pytest.raises(together.BadRequestError, match="line 2"):
        together_client(simulator).files.upload(path, purpose="fine-tune", check=False)


def test_together_takes_a_well_formed_preference_file(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "prefs.jsonl", [preference(ONE, TWO[1:])] * 3)
    uploaded = together_client(simulator).files.upload(path, purpose="fine-tune", check=False)
    assert uploaded.id.startswith("file-")


# -- Fireworks -------------------------------------------------------------------------------


@pytest.fixture
def fireworks_dataset(simulator: SimulatorServer, tmp_path: Path) -> str:
    client = fireworks_client(simulator)
    client.datasets.create(dataset_id="train", dataset={"displayName": "train"})
    path = write_jsonl(tmp_path / "train.jsonl", [chat_example(i) for i in range(12)])
    with path.open("rb") as handle:
        client.datasets.upload("train", file=("train.jsonl", handle, "application/jsonl"))
    return f"accounts/{ACCOUNT}/datasets/train"


def fireworks_post(server: SimulatorServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/fireworks/v1/accounts/{ACCOUNT}/{path}",
        json=body,
        headers={"authorization": f"Bearer {KEY}"},
    )


def assert_rpc_error(response: httpx.Response, status: int, code: int, words: str) -> None:
    """Fireworks answers errors as a google.rpc.Status: numeric code, message, details."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and words in body["message"] and "details" in body


def test_fireworks_reads_batch_size_samples_and_keeps_batch_size_as_tokens(
    simulator: SimulatorServer, fireworks_dataset: str
) -> None:
    job = fireworks_client(simulator).supervised_fine_tuning_jobs.create(
        dataset=fireworks_dataset,
        base_model=FIREWORKS_MODEL,
        supervised_fine_tuning_job_id="samples",
        batch_size=65536,
        batch_size_samples=16,
        epochs=2,
    )
    assert job.batch_size_samples == 16 and job.batch_size == 65536
    assert jobs_of(simulator, "fireworks")[0]["hyperparameters"]["batch_size"] == 16


@pytest.mark.parametrize(
    ("collection", "body", "words"),
    [
        ("supervisedFineTuningJobs", {"epochs": "two"}, "epochs"),
        ("supervisedFineTuningJobs", {"learningRate": "fast"}, "learningRate"),
        ("supervisedFineTuningJobs", {"batchSizeSamples": 0}, "batchSizeSamples"),
        ("supervisedFineTuningJobs", {"seed": 7}, 'unknown field "seed"'),
        ("dpoJobs", {"lossConfig": {"method": "DPO", "dpo": {"beta": 5}}}, "beta"),
        ("dpoJobs", {"lossConfig": {"method": "DPO", "dpo": {"beta": 0}}}, "beta"),
        ("dpoJobs", {"trainingConfig": {"epochs": "two"}}, "trainingConfig.epochs"),
        ("dpoJobs", {"trainingConfig": {"bogus": 1}}, 'unknown field "trainingConfig.bogus"'),
    ],
)
def test_fireworks_refuses_what_its_request_types_and_ranges_refuse(
    simulator: SimulatorServer,
    fireworks_dataset: str,
    collection: str,
    body: dict[str, Any],
    words: str,
) -> None:
    id_key = "supervisedFineTuningJobId" if collection == "supervisedFineTuningJobs" else "dpoJobId"
    base = {"dataset": fireworks_dataset}
    if collection == "supervisedFineTuningJobs":
        base["baseModel"] = FIREWORKS_MODEL
    else:
        base["trainingConfig"] = {"baseModel": FIREWORKS_MODEL}
    merged = {**base, **body}
    if "trainingConfig" in body:
        merged["trainingConfig"] = {**base.get("trainingConfig", {}), **body["trainingConfig"]}
    response = fireworks_post(simulator, f"{collection}?{id_key}=bad-job", merged)
    assert_rpc_error(response, 400, 3, words)
    assert jobs_of(simulator, "fireworks") == []


def test_fireworks_takes_a_dpo_beta_inside_its_range(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    client = fireworks_client(simulator)
    client.datasets.create(dataset_id="prefs", dataset={"displayName": "prefs"})
    path = write_jsonl(tmp_path / "prefs.jsonl", [preference(ONE, TWO[1:])] * 12)
    with path.open("rb") as handle:
        client.datasets.upload("prefs", file=("prefs.jsonl", handle, "application/jsonl"))
    job = client.dpo_jobs.create(
        dataset=f"accounts/{ACCOUNT}/datasets/prefs",
        dpo_job_id="prefs-job",
        training_config={"base_model": FIREWORKS_MODEL, "epochs": 1},
        loss_config={"method": "DPO", "dpo": {"beta": 0.1}},
    )
    assert job.loss_config is not None and job.loss_config.dpo.beta == 0.1


def test_fireworks_answers_already_exists_when_a_dataset_id_is_created_twice(
    simulator: SimulatorServer,
) -> None:
    body = {"datasetId": "twice", "dataset": {"displayName": "twice"}}
    assert fireworks_post(simulator, "datasets", body).status_code == 200
    assert_rpc_error(fireworks_post(simulator, "datasets", body), 409, 6, "already exists")


@pytest.mark.parametrize(
    "problem", ["developer role", "parallel_tool_calls", "two preferred messages"]
)
def test_fireworks_refuses_a_dataset_its_rules_refuse(
    simulator: SimulatorServer, tmp_path: Path, problem: str
) -> None:
    client = fireworks_client(simulator)
    client.datasets.create(dataset_id="bad", dataset={"displayName": "bad"})
    path = write_jsonl(tmp_path / "bad.jsonl", [BAD_LINES[problem]])
    with path.open("rb") as handle, pytest.raises(fireworks.BadRequestError, match="line 1"):
        client.datasets.upload("bad", file=("bad.jsonl", handle, "application/jsonl"))


def test_fireworks_refuses_an_upload_over_150_mb_before_reading_it(
    simulator: SimulatorServer,
) -> None:
    fireworks_client(simulator).datasets.create(dataset_id="big", dataset={"displayName": "big"})
    size = 151 * 1024 * 1024
    with socket.create_connection((simulator.host, simulator.port), timeout=5) as sock:
        sock.sendall(
            (
                f"POST /fireworks/v1/accounts/{ACCOUNT}/datasets/big:upload HTTP/1.1\r\n"
                f"Host: {simulator.host}\r\nAuthorization: Bearer {KEY}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {size}\r\n\r\n"
            ).encode()
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(payload)["code"] == 8


def test_fireworks_takes_a_file_through_the_signed_url_path(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    client = fireworks_client(simulator)
    client.datasets.create(dataset_id="signed", dataset={"displayName": "signed"})
    data = write_jsonl(tmp_path / "signed.jsonl", [chat_example(i) for i in range(12)]).read_bytes()
    urls = client.datasets.get_upload_endpoint(
        "signed", filename_to_size={"signed.jsonl": str(len(data))}
    ).filename_to_signed_urls
    assert urls is not None
    put = httpx.put(urls["signed.jsonl"], content=data)
    assert put.status_code == 200
    client.datasets.validate_upload("signed", body={})
    dataset = client.datasets.get("signed")
    assert dataset.state == "READY" and dataset.example_count == "12"
    job = client.supervised_fine_tuning_jobs.create(
        dataset="accounts/curator-sim/datasets/signed",
        base_model=FIREWORKS_MODEL,
        supervised_fine_tuning_job_id="signed-job",
    )
    assert job.state == "JOB_STATE_VALIDATING"
