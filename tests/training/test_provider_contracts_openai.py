"""Contract tests for the openai provider (OpenAI and Azure OpenAI), against the vendors'
published examples (tests/data/vendors/openai and azure, sources in its README), not
against our simulator: the requests our provider sends through the real SDK are compared
with the published request examples and the SDK's own request types, and the published
response examples are fed back through the SDK into our parsers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
from openai.types.fine_tuning.job_create_params import JobCreateParams

from tests.training.capture import Captured, capture, vendor_fixture
from training.models import REMOTE_ACTIVE, REMOTE_TERMINAL
from training.providers.base import RemoteJob
from training.providers.openai_provider import AZURE_MANAGEMENT_VERSION, OpenAIProvider

OPENAI_URL = "https://api.openai.com/v1"
AZURE_URL = "https://aoairesource.openai.azure.com/openai/v1"
# A cursor page after the published one: the examples say has_more, and a real server's next
# page would hold older items; an empty last page ends the walk.
EMPTY_PAGE = {"object": "list", "data": [], "has_more": False}


def published_requests() -> Any:
    return pydantic.TypeAdapter(JobCreateParams)


def answer(routes: dict[tuple[str, str], Any]) -> Any:
    def responder(request: Any) -> tuple[int, Any] | None:
        if "after" in request.url.params:
            return 200, EMPTY_PAGE
        for (method, path_end), body in routes.items():
            if request.method == method and request.url.path.endswith(path_end):
                return body
        return None

    return responder


def openai_provider(
    monkeypatch: Any, routes: dict[tuple[str, str], Any]
) -> tuple[OpenAIProvider, Captured]:
    captured = capture(monkeypatch, answer(routes))
    return OpenAIProvider(api_key="fake-openai-key", base_url=OPENAI_URL), captured


# -- requests ----------------------------------------------------------------------------


def test_a_supervised_create_is_the_body_of_openais_published_epochs_example(
    monkeypatch: Any,
) -> None:
    published = vendor_fixture("openai/create_job_supervised_epochs.request.json")
    reply = vendor_fixture("openai/create_job_supervised_epochs.response.json")
    provider, captured = openai_provider(monkeypatch, {("POST", "/fine_tuning/jobs"): (200, reply)})

    provider.create_job(
        model=published["model"],
        training_file=published["training_file"],
        hyperparameters={"n_epochs": 2},
    )

    (sent,) = captured.bodies("POST", "/fine_tuning/jobs")
    assert sent == published
    published_requests().validate_python(sent)


def test_a_dpo_create_is_the_body_of_openais_published_dpo_example(monkeypatch: Any) -> None:
    published = vendor_fixture("openai/create_job_dpo.request.json")
    reply = vendor_fixture("openai/create_job_dpo.response.json")
    provider, captured = openai_provider(monkeypatch, {("POST", "/fine_tuning/jobs"): (200, reply)})

    provider.create_job(
        model=published["model"],
        training_file=published["training_file"],
        validation_file=published["validation_file"],
        hyperparameters={"dpo_beta": 0.1},
        method="dpo",
    )

    (sent,) = captured.bodies("POST", "/fine_tuning/jobs")
    assert sent == published
    published_requests().validate_python(sent)


def test_the_tag_seed_and_suffix_ride_in_fields_openais_request_type_has(
    monkeypatch: Any,
) -> None:
    reply = vendor_fixture("openai/create_job_supervised_epochs.response.json")
    provider, captured = openai_provider(monkeypatch, {("POST", "/fine_tuning/jobs"): (200, reply)})

    provider.create_job(
        model="gpt-4o-mini",
        training_file="file-abc123",
        suffix="support",
        seed=7,
        metadata={"curator_job": "0a1b2c3d"},
    )

    (sent,) = captured.bodies("POST", "/fine_tuning/jobs")
    assert set(sent) <= set(JobCreateParams.__annotations__)
    assert (sent["suffix"], sent["seed"], sent["metadata"]) == (
        "support",
        7,
        {"curator_job": "0a1b2c3d"},
    )
    published_requests().validate_python(sent)


def test_an_upload_is_a_fine_tune_file_and_the_published_reply_reads_as_processed(
    monkeypatch: Any, tmp_path: Path
) -> None:
    reply = vendor_fixture("openai/upload_file.response.json")
    sent: list[Any] = []

    def files_api(request: Any) -> tuple[int, Any]:
        # The multipart body streams from the file: read it while the request is made.
        sent.append((request, request.read().decode()))
        return 200, reply

    capture(monkeypatch, files_api)
    provider = OpenAIProvider(api_key="fake-openai-key", base_url=OPENAI_URL)
    path = tmp_path / "mydata.jsonl"
    path.write_text('{"messages": []}\n', encoding="utf-8")

    remote = provider.upload_file(path)

    ((request, form),) = sent
    assert request.url.path == "/v1/files"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert 'name="purpose"' in form and "fine-tune" in form
    assert 'name="file"; filename="mydata.jsonl"' in form
    # The published file object has no (deprecated) status: a file answered is processed.
    assert (remote.id, remote.bytes, remote.purpose) == ("file-abc123", 120000, "fine-tune")
    assert remote.status == "processed"


# -- responses ---------------------------------------------------------------------------


def test_the_published_create_replies_read_as_queued_jobs_with_their_settings(
    monkeypatch: Any,
) -> None:
    epochs = vendor_fixture("openai/create_job_supervised_epochs.response.json")
    dpo = vendor_fixture("openai/create_job_dpo.response.json")
    provider, _ = openai_provider(monkeypatch, {("POST", "/fine_tuning/jobs"): (200, epochs)})
    first = provider.create_job(model="gpt-4o-mini", training_file="file-abc123")
    provider, _ = openai_provider(monkeypatch, {("POST", "/fine_tuning/jobs"): (200, dpo)})
    second = provider.create_job(model="gpt-4o-mini", training_file="file-abc", method="dpo")

    assert (first.id, first.status, first.seed) == ("ftjob-abc123", "queued", 683058546)
    assert first.hyperparameters["n_epochs"] == 2
    assert first.fine_tuned_model is None and first.error is None
    # The DPO reply has hyperparameters null at the top: the method block is read.
    assert (second.id, second.validation_file) == ("ftjob-abc", "file-123")
    assert second.hyperparameters["beta"] == 0.1


def test_a_published_finished_job_reads_its_model_tokens_and_result_file(
    monkeypatch: Any,
) -> None:
    job = vendor_fixture("openai/retrieve_job.response.json")
    provider, _ = openai_provider(
        monkeypatch, {("GET", f"/fine_tuning/jobs/{job['id']}"): (200, job)}
    )

    remote = provider.get_job(job["id"])

    assert remote.status == "succeeded"
    assert remote.fine_tuned_model == "ft:davinci-002:my-org:custom_suffix:7q8mpxmy"
    assert remote.trained_tokens == 5768
    assert remote.finished_at == 1692661190
    assert remote.result_files == ("file-abc123",)
    assert remote.hyperparameters == {
        "n_epochs": 4,
        "batch_size": 1,
        "learning_rate_multiplier": 1.0,
    }


def test_a_published_cancel_reply_reads_as_cancelled(monkeypatch: Any) -> None:
    job = vendor_fixture("openai/cancel_job.response.json")
    provider, captured = openai_provider(
        monkeypatch, {("POST", f"/fine_tuning/jobs/{job['id']}/cancel"): (200, job)}
    )

    assert provider.cancel(job["id"]).status == "cancelled"
    assert captured.bodies("POST", "/cancel")


def test_published_events_come_back_oldest_first_with_their_ids(monkeypatch: Any) -> None:
    page = vendor_fixture("openai/list_events.response.json")
    provider, captured = openai_provider(monkeypatch, {("GET", "/events"): (200, page)})

    events = provider.list_events("ftjob-abc123")

    # OpenAI lists newest first; the job page shows them in the order they happened.
    assert [event.id for event in events] == [
        "ft-event-tyiGuB72evQncpH87xe505Sv",
        "ft-event-ddTJfwuMVpfLXseO0Am0Gqjm",
    ]
    assert events[-1].message == "Fine tuning job successfully completed"
    assert all(event.level == "info" and event.data == {} for event in events)
    # has_more: the next page was asked for, after the last event of the first.
    assert "after=ft-event-tyiGuB72evQncpH87xe505Sv" in str(captured.requests[-1].url)


def test_published_checkpoints_are_read_in_step_order_with_their_metrics(
    monkeypatch: Any,
) -> None:
    page = vendor_fixture("openai/list_checkpoints.response.json")
    provider, _ = openai_provider(monkeypatch, {("GET", "/checkpoints"): (200, page)})

    checkpoints = provider.list_checkpoints("ftjob-abc123")

    assert [c.step_number for c in checkpoints] == [1000, 2000]
    assert checkpoints[-1].fine_tuned_model_checkpoint.endswith(":ckpt-step-2000")
    assert checkpoints[-1].metrics == {
        "full_valid_loss": 0.134,
        "full_valid_mean_token_accuracy": 0.874,
    }


# -- Azure OpenAI: data plane ------------------------------------------------------------


def azure_provider(
    monkeypatch: Any, routes: dict[tuple[str, str], Any], control: dict[str, str] | None = None
) -> tuple[OpenAIProvider, Captured]:
    captured = capture(monkeypatch, answer(routes))
    provider = OpenAIProvider(
        api_key="fake-azure-key",
        base_url=AZURE_URL,
        name="azure",
        label="Azure OpenAI",
        azure=True,
        azure_control=control,
    )
    return provider, captured


def body(example: str, status: str) -> Any:
    return vendor_fixture(example)["responses"][status]["body"]


def test_azures_published_job_states_read_as_states_the_job_loop_knows(monkeypatch: Any) -> None:
    created = body("azure/post_finetuning_job.json", "201")
    finished = body("azure/get_finetuning_job.json", "200")
    provider, _ = azure_provider(
        monkeypatch,
        {
            ("POST", "/fine_tuning/jobs"): (201, created),
            ("GET", f"/fine_tuning/jobs/{finished['id']}"): (200, finished),
        },
    )

    pending = provider.create_job(model="curie", training_file=created["training_file"])
    done = provider.get_job(finished["id"])

    # Azure answers "pending" where OpenAI says "queued" (azure-rest-api-specs, AzureOpenAI
    # authoring 2024-10-21, post_finetuning_job.json): still a job that is waiting.
    assert pending.status in REMOTE_ACTIVE
    assert done.status in REMOTE_TERMINAL and done.status == "succeeded"
    assert done.fine_tuned_model == "curie.ft-72a2792ef7d24ba7b82c7fe4a37e379f"
    assert (done.trained_tokens, done.finished_at) == (2342, 1646127311)


def test_azures_published_events_and_checkpoints_are_read(monkeypatch: Any) -> None:
    events = body("azure/get_finetuning_job_events.json", "200")
    checkpoints = body("azure/get_finetuning_job_checkpoints.json", "200")
    provider, captured = azure_provider(
        monkeypatch,
        {("GET", "/events"): (200, events), ("GET", "/checkpoints"): (200, checkpoints)},
    )

    read_events = provider.list_events("ftjob-72a2792ef7d24ba7b82c7fe4a37e379f")
    read_checkpoints = provider.list_checkpoints("ftjob-72a2792ef7d24ba7b82c7fe4a37e379f")

    # Azure's example lists its events oldest first, OpenAI's newest first: either way
    # they are shown in the order they happened.
    assert [event.message for event in read_events] == [
        "Job enqueued. Waiting for jobs ahead to complete.",
        "Job started.",
        "Job succeeded.",
    ]
    assert [c.step_number for c in read_checkpoints] == [10, 20, 30]
    assert read_checkpoints[0].metrics["train_loss"] == 0.478
    assert read_checkpoints[-1].metrics["full_valid_loss"] == 0.114
    # Azure's key goes in the api-key header, to the resource's own host only.
    assert {r.url.host for r in captured.requests} == {"aoairesource.openai.azure.com"}
    assert all(r.headers.get("api-key") == "fake-azure-key" for r in captured.requests)


def test_an_azure_upload_answered_pending_is_waited_for_until_processed(
    monkeypatch: Any, tmp_path: Path
) -> None:
    uploaded = body("azure/upload_file.json", "201")
    processed = body("azure/get_file.json", "200")
    provider, captured = azure_provider(
        monkeypatch,
        {
            ("POST", "/files"): (201, uploaded),
            ("GET", f"/files/{uploaded['id']}"): (200, processed),
        },
    )
    path = tmp_path / "puppy.jsonl"
    path.write_text('{"messages": []}\n', encoding="utf-8")

    remote = provider.upload_file(path)
    ready = provider.wait_for_file(remote.id, timeout=5, poll_interval=0)

    # Azure answers the upload "pending" (no size yet); the file is used once "processed".
    assert remote.status == "pending"
    assert (ready.status, ready.bytes) == ("processed", 140)
    assert {r.url.host for r in captured.requests} == {"aoairesource.openai.azure.com"}


# -- Azure OpenAI: control plane (deployments) -------------------------------------------

CONTROL = {
    "subscription": "subscriptionId",
    "resource_group": "resourceGroupName",
    "resource": "accountName",
    "token": "fake-arm-token",
}


def finished_job() -> RemoteJob:
    job = body("azure/get_finetuning_job.json", "200")
    return RemoteJob(
        id=job["id"],
        status="succeeded",
        model=job["model"],
        training_file=job["training_file"],
        created_at=job["created_at"],
        fine_tuned_model=job["fine_tuned_model"],
    )


def test_the_deployment_put_has_the_shape_of_azures_published_example(monkeypatch: Any) -> None:
    example = vendor_fixture("azure/PutDeployment.json")
    provider, captured = azure_provider(
        monkeypatch,
        {
            ("PUT", "/deployments/" + OpenAIProvider.deployment_name(finished_job())): (
                201,
                example["responses"]["201"]["body"],
            )
        },
        control=CONTROL,
    )

    serving = provider.deploy(finished_job(), name="ignored")

    (put,) = [r for r in captured.requests if r.method == "PUT"]
    published = example["parameters"]
    assert put.url.host == "management.azure.com"
    assert put.url.path == (
        f"/subscriptions/{published['subscriptionId']}/resourceGroups/"
        f"{published['resourceGroupName']}/providers/Microsoft.CognitiveServices/accounts/"
        f"{published['accountName']}/deployments/{serving.deployment}"
    )
    assert put.url.params["api-version"] == published["api-version"] == AZURE_MANAGEMENT_VERSION
    assert put.headers["authorization"] == "Bearer fake-arm-token"
    sent = captured.bodies("PUT", f"/deployments/{serving.deployment}")[0]
    want = published["deployment"]
    assert sent.keys() == want.keys()
    assert sent["sku"].keys() == want["sku"].keys()
    assert sent["properties"]["model"].keys() == want["properties"]["model"].keys()
    # SKU names are case-insensitive in ARM; Microsoft's fine-tuned-model deployment page
    # uses "standard", the spec example "Standard".
    assert sent["sku"]["name"].lower() == want["sku"]["name"].lower()
    assert sent["properties"]["model"]["format"] == want["properties"]["model"]["format"]
    assert sent["properties"]["model"]["name"] == finished_job().fine_tuned_model
    # 201 with provisioningState Accepted: created, not yet up.
    assert serving.state == "deploying"
    # The data-plane key never goes to the control plane, nor the ARM token to the resource.
    assert "api-key" not in put.headers


def test_a_published_succeeded_deployment_is_checked_by_a_chat_call(monkeypatch: Any) -> None:
    name = OpenAIProvider.deployment_name(finished_job())
    provider, captured = azure_provider(
        monkeypatch,
        {
            ("GET", f"/deployments/{name}"): (200, body("azure/GetDeployment.json", "200")),
            ("POST", "/chat/completions"): (
                200,
                vendor_fixture("openai/chat_completion.response.json"),
            ),
        },
        control=CONTROL,
    )

    serving = provider.deploy(finished_job(), name="ignored")

    assert serving.state == "answering"
    assert not [r for r in captured.requests if r.method == "PUT"]
    (chat,) = captured.bodies("POST", "/chat/completions")
    # On Azure the model named in a chat call is the deployment.
    assert chat["model"] == name
