"""A finished hosted fine-tune is deployed where the provider requires it (Azure, through the
control plane when Curator has the rights), checked to answer, and recorded on the job; where
a deployment must be made by hand the page says exactly which. Requests go through the real
SDKs, captured below them, with fake keys."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from curation.models import JobStatus
from tests.factories import FineTuneJobFactory
from tests.training.capture import capture
from training.evaluation.client import endpoint_for
from training.providers import get_config
from training.registry.models import Model, ModelKind
from training.services.serving import serving_deploy, serving_release_after_evaluation

pytestmark = pytest.mark.django_db

AZURE = "https://curator-test.openai.azure.com/openai/v1"
CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}
    ],
}
# The Azure control plane's reply to PUT .../deployments/{name} (learn.microsoft.com REST
# reference, Deployments - Create Or Update: a Deployment with properties.provisioningState).
AZURE_DEPLOYMENT = {
    "id": "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/"
    "accounts/curator-test/deployments/curator-abc123",
    "name": "curator-abc123",
    "sku": {"name": "standard", "capacity": 1},
    "properties": {
        "model": {"format": "OpenAI", "name": "gpt-4.1-mini-2025-04-14.ft-abc123", "version": "1"},
        "provisioningState": "Succeeded",
    },
}
NOT_FOUND = {
    "error": {
        "code": "DeploymentNotFound",
        "message": "The API deployment for this resource does not exist.",
    }
}


@pytest.fixture
def providers(settings: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "fake-together-key")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "fake-azure-key")
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "fake-management-token")
    monkeypatch.delenv("TOGETHER_BASE_URL", raising=False)
    settings.CURATOR_TRAINING_PROVIDERS = [
        {"name": "together", "kind": "together", "api_key_env": "TOGETHER_API_KEY"},
        {
            "name": "azure",
            "kind": "openai",
            "label": "Azure OpenAI",
            "base_url": AZURE,
            "api_key_env": "AZURE_OPENAI_API_KEY",
            "azure": True,
        },
    ]


def job_on(provider: str, model: str, dataset: Any = None) -> Any:
    extra = {"dataset": dataset} if dataset is not None else {}
    return FineTuneJobFactory(
        provider=provider,
        provider_kind="openai" if provider == "azure" else provider,
        status=JobStatus.SUCCEEDED,
        remote_job_id="ftjob-abc123" if provider == "azure" else "ft-abc123",
        fine_tuned_model=model,
        **extra,
    )


def test_a_together_lora_that_answers_serverless_is_recorded_as_answering(
    providers: None, monkeypatch: Any
) -> None:
    captured = capture(
        monkeypatch, lambda r: (200, CHAT) if r.url.path.endswith("/chat/completions") else None
    )
    job = job_on("together", "acme/Meta-Llama-3.1-8B-Instruct-Reference-cur-abc")

    entry = serving_deploy(job=job, user=None)

    assert entry["state"] == "answering"
    assert entry["model"] == job.fine_tuned_model
    assert entry["endpoint"] == "https://api.together.xyz/v1"
    (chat,) = captured.requests
    assert chat.url.host in {"api.together.ai", "api.together.xyz"}
    assert json.loads(chat.content)["model"] == job.fine_tuned_model


def test_a_together_model_not_served_serverless_says_which_endpoint_to_create(
    providers: None, monkeypatch: Any
) -> None:
    capture(
        monkeypatch,
        lambda r: (
            404,
            {"error": {"message": "Unable to access model", "code": "model_not_found"}},
        ),
    )
    job = job_on("together", "acme/full-ft")

    entry = serving_deploy(job=job, user=None)

    assert entry["state"] == "not_deployed"
    assert "together endpoints create --model acme/full-ft" in entry["detail"]
    assert "Unable to access model" in entry["detail"]


def test_azure_without_control_plane_rights_names_the_deployment_to_create_by_hand(
    providers: None, monkeypatch: Any
) -> None:
    captured = capture(monkeypatch, lambda r: (404, NOT_FOUND))
    job = job_on("azure", "gpt-4.1-mini-2025-04-14.ft-abc123")

    entry = serving_deploy(job=job, user=None)

    assert entry["state"] == "not_deployed"
    assert entry["model"] == "curator-abc123"
    assert "create the deployment 'curator-abc123'" in entry["detail"]
    assert "--model-name gpt-4.1-mini-2025-04-14.ft-abc123" in entry["detail"]
    assert {r.url.host for r in captured.requests} == {"curator-test.openai.azure.com"}


def test_azure_with_control_plane_settings_creates_the_deployment_and_evaluation_calls_it(
    providers: None, settings: Any, monkeypatch: Any
) -> None:
    settings.CURATOR_TRAINING_PROVIDERS[1].update(
        subscription_id="sub-1",
        resource_group="rg-1",
        resource_name="curator-test",
        management_token_env="AZURE_MANAGEMENT_TOKEN",
    )

    def azure(request: Any) -> tuple[int, Any] | None:
        if request.url.host == "management.azure.com":
            return (404, NOT_FOUND) if request.method == "GET" else (201, AZURE_DEPLOYMENT)
        return 200, CHAT

    captured = capture(monkeypatch, azure)
    job = job_on("azure", "gpt-4.1-mini-2025-04-14.ft-abc123")

    entry = serving_deploy(job=job, user=None)

    get, put = captured.requests[:2]
    assert get.method == "GET" and put.method == "PUT"
    assert put.url.path == (
        "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/"
        "accounts/curator-test/deployments/curator-abc123"
    )
    assert put.url.params["api-version"] == "2024-10-01"
    assert put.headers["authorization"] == "Bearer fake-management-token"
    assert json.loads(put.content)["properties"]["model"] == {
        "format": "OpenAI",
        "name": "gpt-4.1-mini-2025-04-14.ft-abc123",
        "version": "1",
    }
    assert "fake-azure-key" not in str(put.headers)
    assert entry == {**entry, "state": "answering", "deployment": "curator-abc123"}
    model = Model(provider="azure", name=job.fine_tuned_model, job=job)
    assert endpoint_for(model).model == "curator-abc123"
    assert endpoint_for(model).url == AZURE


def test_only_admins_of_the_dataset_can_deploy(
    providers: None, dataset: Any, reviewer: Any, outsider: Any, monkeypatch: Any
) -> None:
    captured = capture(monkeypatch, lambda r: (200, CHAT))
    job = job_on("together", "acme/x", dataset=dataset)
    url = reverse("finetune_serve", args=[dataset.slug, job.pk])
    for user, status in ((outsider, 404), (reviewer, 403)):
        client = Client()
        client.force_login(user)
        assert client.post(url).status_code == status
    assert captured.requests == []


def test_the_job_page_shows_what_is_deployed_after_a_check(
    providers: None, dataset: Any, admin_user: Any, monkeypatch: Any
) -> None:
    capture(monkeypatch, lambda r: (200, CHAT))
    job = job_on("together", "acme/x", dataset=dataset)
    client = Client()
    client.force_login(admin_user)

    response = client.post(reverse("finetune_serve", args=[dataset.slug, job.pk]), follow=True)

    text = response.content.decode()
    assert "Serving: <strong>answering</strong>" in text
    assert "https://api.together.xyz/v1" in text


@pytest.mark.parametrize("undeploy", [True, False])
def test_the_deployment_made_for_evaluation_is_removed_after_it_only_when_set(
    providers: None, settings: Any, monkeypatch: Any, undeploy: bool
) -> None:
    settings.CURATOR_TRAINING_PROVIDERS[1].update(
        subscription_id="sub-1",
        resource_group="rg-1",
        resource_name="curator-test",
        management_token_env="AZURE_MANAGEMENT_TOKEN",
    )
    settings.CURATOR_UNDEPLOY_AFTER_EVALUATION = undeploy

    def azure(request: Any) -> tuple[int, Any] | None:
        if request.url.host == "management.azure.com":
            answers = {"GET": (404, NOT_FOUND), "PUT": (200, AZURE_DEPLOYMENT)}
            return answers.get(request.method, (204, {}))
        return 200, CHAT

    captured = capture(monkeypatch, azure)
    job = job_on("azure", "gpt-4.1-mini-2025-04-14.ft-abc123")
    serving_deploy(job=job, user=None)
    model = Model.objects.create(
        kind=ModelKind.HOSTED_FINETUNE, provider="azure", name=job.fine_tuned_model, job=job
    )

    removed = serving_release_after_evaluation(model=model)

    deletes = [r for r in captured.requests if r.method == "DELETE"]
    job.refresh_from_db()
    if undeploy:
        assert removed and len(deletes) == 1
        assert deletes[0].url.path.endswith("/deployments/curator-abc123")
        assert job.artifacts["serving"]["deployment"] == ""
    else:
        assert not removed and deletes == []
        assert job.artifacts["serving"]["deployment"] == "curator-abc123"


def test_the_management_token_goes_only_to_the_configured_management_host(
    providers: None, settings: Any, monkeypatch: Any
) -> None:
    settings.CURATOR_TRAINING_PROVIDERS[1].update(
        subscription_id="sub-1",
        resource_group="rg-1",
        resource_name="curator-test",
        management_token_env="AZURE_MANAGEMENT_TOKEN",
        management_url="https://management.usgovcloudapi.net/",
    )

    def azure(request: Any) -> tuple[int, Any] | None:
        if request.url.host == "management.usgovcloudapi.net":
            return (404, NOT_FOUND) if request.method == "GET" else (201, AZURE_DEPLOYMENT)
        return 200, CHAT

    captured = capture(monkeypatch, azure)
    job = job_on("azure", "gpt-4.1-mini-2025-04-14.ft-abc123")

    entry = serving_deploy(job=job, user=None)

    assert entry["state"] == "answering"
    tokened = {
        r.url.host
        for r in captured.requests
        if "fake-management-token" in " ".join(r.headers.values())
    }
    assert tokened == {"management.usgovcloudapi.net"}
    assert {r.url.host for r in captured.requests} == {
        "management.usgovcloudapi.net",
        "curator-test.openai.azure.com",
    }


def test_a_management_url_that_is_not_http_is_refused_naming_the_setting(
    providers: None, settings: Any
) -> None:
    settings.CURATOR_TRAINING_PROVIDERS[1]["management_url"] = "management.azure.com"
    with pytest.raises(ImproperlyConfigured, match=r"\['azure'\]\.management_url"):
        get_config("azure")


# A reply to Together's createendpoint, with the fields its reference lists for the endpoint
# object (docs.together.ai/reference/createendpoint: id, name, model, hardware, state,
# autoscaling; the values are ours).
TOGETHER_ENDPOINT = {
    "object": "endpoint",
    "id": "endpoint-d23901de-ef8f-44bf-b3e7-de9c1ca8f2d7",
    "name": "acme/full-ft-a32b82a1",
    "display_name": "curator-1",
    "model": "acme/full-ft",
    "hardware": "1x_nvidia_a100_80gb_sxm",
    "type": "dedicated",
    "owner": "acme",
    "state": "PENDING",
    "autoscaling": {"min_replicas": 1, "max_replicas": 1},
    "created_at": "2025-02-04T10:43:55.405Z",
}


def test_with_paid_deployments_allowed_a_together_endpoint_is_created_as_documented(
    providers: None, settings: Any, monkeypatch: Any
) -> None:
    settings.CURATOR_TRAINING_PROVIDERS[0]["allow_paid_deployments"] = True

    def together(request: Any) -> tuple[int, Any] | None:
        path = request.url.path
        if path.endswith("/chat/completions"):
            return 400, {"error": {"message": "Unable to access non-serverless model"}}
        if path == "/v1/hardware":
            return 200, {
                "object": "list",
                "data": [
                    {"id": "2x_nvidia_h100_80gb_sxm", "pricing": {"cents_per_minute": 11.1}},
                    {"id": "1x_nvidia_a100_80gb_sxm", "pricing": {"cents_per_minute": 4.2}},
                ],
            }
        if path == "/v1/endpoints" and request.method == "GET":
            return 200, {"object": "list", "data": []}
        if path == "/v1/endpoints":
            return 200, TOGETHER_ENDPOINT
        return None

    captured = capture(monkeypatch, together)
    job = job_on("together", "acme/full-ft")

    entry = serving_deploy(job=job, user=None)

    (create,) = [r for r in captured.requests if r.method == "POST" and "endpoints" in r.url.path]
    assert json.loads(create.content) == {
        "model": "acme/full-ft",
        "display_name": f"curator-{job.pk}",
        "hardware": "1x_nvidia_a100_80gb_sxm",
        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
    }
    assert entry["state"] == "deploying"
    assert entry["deployment"] == TOGETHER_ENDPOINT["id"]
    assert entry["model"] == TOGETHER_ENDPOINT["name"]
    assert "$2.52/hour" in entry["detail"]
    assert {r.url.host for r in captured.requests} <= {"api.together.ai", "api.together.xyz"}


def test_with_paid_deployments_allowed_a_fireworks_deployment_is_created_with_the_sdk(
    providers: None, settings: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("FIREWORKS_API_KEY", "fake-fireworks-key")
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", "acme")
    settings.CURATOR_TRAINING_PROVIDERS.append(
        {
            "name": "fireworks",
            "kind": "fireworks",
            "api_key_env": "FIREWORKS_API_KEY",
            "allow_paid_deployments": True,
        }
    )

    def fireworks(request: Any) -> tuple[int, Any] | None:
        if request.url.path.endswith("/chat/completions"):
            return 404, {"error": {"message": "Model not found, inaccessible, or not deployed"}}
        if request.method == "POST" and request.url.path == "/v1/accounts/acme/deployments":
            return 200, {
                "name": "accounts/acme/deployments/x",
                "baseModel": "accounts/acme/models/ft-1",
                "state": "CREATING",
            }
        return None  # GET of a deployment that does not exist yet: 404

    captured = capture(monkeypatch, fireworks)
    job = job_on("fireworks", "accounts/acme/models/ft-1")

    entry = serving_deploy(job=job, user=None)

    (create,) = [r for r in captured.requests if r.method == "POST" and "deployments" in r.url.path]
    assert create.url.params["deploymentId"] == f"curator-{job.pk}"
    body = json.loads(create.content)
    assert body["baseModel"] == "accounts/acme/models/ft-1"
    assert body["minReplicaCount"] == body["maxReplicaCount"] == 1
    assert entry == {**entry, "state": "deploying", "deployment": f"curator-{job.pk}"}
    assert {r.url.host for r in captured.requests} == {"api.fireworks.ai"}
    assert all("fake-together-key" not in " ".join(r.headers.values()) for r in captured.requests)
