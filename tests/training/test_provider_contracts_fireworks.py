"""Contract tests for the Fireworks provider against the request and response examples of
Fireworks' published API reference and the fireworks-ai SDK's own request types
(tests/data/vendors/fireworks, sources in its README), not against our simulator."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
import typing_extensions
from fireworks._utils import PropertyInfo
from fireworks.types import (
    dataset_create_params,
    dataset_param,
    dpo_job_create_params,
    supervised_fine_tuning_job_create_params,
)
from fireworks.types.shared_params import dpo_config, reinforcement_learning_loss_config
from fireworks.types.shared_params import training_config as training_config_params

from tests.training.capture import Captured, capture, vendor_fixture
from training.providers.base import METADATA_TAG
from training.providers.fireworks_provider import FireworksProvider, job_id_for

MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
TAG = {METADATA_TAG: "0a1b2c3d-4e5f-0000-0000-000000000000"}
SETTINGS = {
    "n_epochs": 2,
    "batch_size": 32,
    "learning_rate": 1e-4,
    "lora_rank": 16,
    "max_seq_length": 8192,
}


def wire_names(typed_dict: Any) -> set[str]:
    """The JSON names of a fireworks-ai request TypedDict: each field's alias, else its name."""
    names = set()
    for name, hint in typing.get_type_hints(typed_dict, include_extras=True).items():
        if typing.get_origin(hint) in {typing_extensions.Required, typing_extensions.NotRequired}:
            hint = typing.get_args(hint)[0]
        aliases = [
            m.alias for m in getattr(hint, "__metadata__", ()) if isinstance(m, PropertyInfo)
        ]
        names.add(aliases[0] if aliases and aliases[0] else name)
    return names - {"account_id"}


def same_json_type(value: Any, published: Any) -> bool:
    """Does ``value`` have the JSON type of the published placeholder ("<string>", 123, true)?"""
    if isinstance(published, bool):
        return isinstance(value, bool)
    if isinstance(published, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, type(published))


def fireworks_api(request: Any) -> tuple[int, Any] | None:
    path = request.url.path
    if request.method == "POST" and path.endswith("/datasets"):
        return 200, {"name": "accounts/acme/datasets/x", "state": "UPLOADING"}
    if request.method == "GET" and "/datasets/" in path:
        return 200, {"name": path.removeprefix("/v1/"), "state": "UPLOADING"}
    if path.endswith(":upload"):
        return 200, {}
    if request.method == "POST" and path.endswith("/supervisedFineTuningJobs"):
        return 200, vendor_fixture("fireworks_sft_job.json")
    if request.method == "POST" and path.endswith("/dpoJobs"):
        return 200, vendor_fixture("fireworks_dpo_job.json")
    if request.method == "GET" and "/dpoJobs/" in path:
        return 200, vendor_fixture("fireworks/get_dpo_job.response.json")
    return None


@pytest.fixture
def fireworks(monkeypatch: Any) -> tuple[FireworksProvider, Captured]:
    captured = capture(monkeypatch, fireworks_api)
    return FireworksProvider(api_key="fake-fireworks-key", account_id="acme"), captured


def test_a_supervised_create_sends_only_fields_of_the_published_request_example(
    fireworks: tuple[FireworksProvider, Captured],
) -> None:
    provider, captured = fireworks
    published = vendor_fixture("fireworks/create_supervised_fine_tuning_job.request.json")

    provider.create_job(
        model=MODEL,
        training_file="accounts/acme/datasets/train-0a1b",
        validation_file="accounts/acme/datasets/valid-0a1b",
        hyperparameters=SETTINGS,
        suffix="support",
        metadata=TAG,
    )

    (request,) = [r for r in captured.requests if r.method == "POST"]
    (sent,) = captured.bodies("POST", "/supervisedFineTuningJobs")
    assert request.url.path == "/v1/accounts/acme/supervisedFineTuningJobs"
    assert set(sent) <= set(published)
    assert set(sent) <= wire_names(
        supervised_fine_tuning_job_create_params.SupervisedFineTuningJobCreateParams
    )
    assert all(same_json_type(value, published[key]) for key, value in sent.items())
    assert sent["baseModel"] == MODEL and sent["dataset"].endswith("/train-0a1b")
    assert sent["evaluationDataset"].endswith("/valid-0a1b")
    # Every chosen setting goes under Fireworks' name for it.
    assert (sent["epochs"], sent["batchSizeSamples"], sent["learningRate"]) == (2, 32, 1e-4)
    assert (sent["loraRank"], sent["maxContextLength"]) == (16, 8192)
    # The job id is the client's to choose (query parameter), which keeps a retry idempotent.
    assert request.url.params["supervisedFineTuningJobId"] == job_id_for(TAG[METADATA_TAG])


def test_a_dpo_create_sends_the_published_shape_and_the_sdks_dpo_loss_block(
    fireworks: tuple[FireworksProvider, Captured],
) -> None:
    provider, captured = fireworks
    published = vendor_fixture("fireworks/create_dpo_job.request.json")

    provider.create_job(
        model=MODEL,
        training_file="accounts/acme/datasets/pairs-0a1b",
        hyperparameters={**SETTINGS, "dpo_beta": 0.2},
        metadata=TAG,
        method="dpo",
    )

    (request,) = [r for r in captured.requests if r.method == "POST"]
    (sent,) = captured.bodies("POST", "/dpoJobs")
    assert request.url.path == "/v1/accounts/acme/dpoJobs"
    assert request.url.params["dpoJobId"] == job_id_for(TAG[METADATA_TAG])
    assert set(sent) <= set(published) | {"lossConfig"}
    assert set(sent) <= wire_names(dpo_job_create_params.DpoJobCreateParams)
    config = sent["trainingConfig"]
    assert set(config) <= set(published["trainingConfig"])
    assert set(config) <= wire_names(training_config_params.TrainingConfig)
    assert all(same_json_type(v, published["trainingConfig"][k]) for k, v in config.items())
    assert (config["baseModel"], config["epochs"], config["batchSizeSamples"]) == (MODEL, 2, 32)
    # Where the sources disagree: the API reference page shows lossConfig {method, klBeta};
    # the fireworks-ai 1.2.30 SDK (generated from the newer spec) has lossConfig.dpo.beta,
    # "DPO temperature ... Must be > 0 and < 0.5". We follow the SDK.
    loss = sent["lossConfig"]
    assert set(loss) <= wire_names(
        reinforcement_learning_loss_config.ReinforcementLearningLossConfig
    )
    assert set(loss["dpo"]) <= wire_names(dpo_config.DpoConfig)
    assert loss["method"] in typing.get_args(
        typing.get_type_hints(reinforcement_learning_loss_config.ReinforcementLearningLossConfig)[
            "method"
        ]
    )
    assert loss == {"method": "DPO", "dpo": {"beta": 0.2}}


def test_the_published_dpo_job_is_read_through_its_training_config(
    fireworks: tuple[FireworksProvider, Captured],
) -> None:
    provider, _ = fireworks
    published = vendor_fixture("fireworks/get_dpo_job.response.json")

    remote = provider.get_job("dpoJobs/curator-0a1b2c3d")

    # A DPO job keeps its settings in trainingConfig (unlike a supervised job).
    assert remote.model == published["trainingConfig"]["baseModel"]
    assert remote.training_file == published["dataset"]
    assert remote.hyperparameters == {
        "n_epochs": 123,
        "batch_size": 123,
        "learning_rate": 123,
        "lora_rank": 123,
    }
    # JOB_STATE_UNSPECIFIED is not a finished state: no model, no error yet.
    assert remote.status not in {"succeeded", "failed", "cancelled"}
    assert remote.fine_tuned_model is None and remote.error is None


def test_a_dataset_is_created_as_the_published_example_then_uploaded_as_a_form_file(
    fireworks: tuple[FireworksProvider, Captured], tmp_path: Path
) -> None:
    provider, captured = fireworks
    published = vendor_fixture("fireworks/create_dataset.request.json")
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n', encoding="utf-8")

    remote = provider.upload_file(path)

    (sent,) = captured.bodies("POST", "/datasets")
    # docs.fireworks.ai "Fine-tuning via API": POST .../datasets {"datasetId", "dataset":
    # {"userUploaded": {}}}; the other fields are the SDK's DatasetParam's.
    assert set(published) <= set(sent) <= wire_names(dataset_create_params.DatasetCreateParams)
    assert set(published["dataset"]) <= set(sent["dataset"])
    assert set(sent["dataset"]) <= wire_names(dataset_param.DatasetParam)
    assert sent["dataset"]["userUploaded"] == {}
    assert remote.id == f"accounts/acme/datasets/{sent['datasetId']}"
    # "A streamlined file upload API is available for file sizes less than 150 MB":
    # POST .../datasets/{id}:upload, multipart with the file in "file".
    (upload,) = [r for r in captured.requests if r.url.path.endswith(":upload")]
    assert upload.url.path == f"/v1/accounts/acme/datasets/{sent['datasetId']}:upload"
    assert upload.headers["content-type"].startswith("multipart/form-data")
