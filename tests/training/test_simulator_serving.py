"""Each provider's chat path on the simulator, at the real host's path under its prefix: base
models answer, and a fine-tune answers only where and once the vendor would serve it."""

from __future__ import annotations

from typing import Any

import fireworks
import httpx
import openai
import pytest
import together

from tests.training.conftest import FakeClock
from training.simulator import SimulatorServer
from training.simulator.chat import remember_fine_tuned_model
from training.simulator.serving import READY_AFTER

KEY = "sk-test-serving"
ACCOUNT = "curator-sim"
QUESTION = [{"role": "user", "content": "How do I restore an archived folder?"}]
REPLY = "Open Archive, pick the folder and choose Restore; it is back within a minute."


def teach(server: SimulatorServer, name: str, base: str) -> None:
    """A finished fine-tune of ``base`` named ``name`` that learned REPLY for QUESTION."""
    remember_fine_tuned_model(
        server.state,
        name=name,
        base=base,
        examples=[{"messages": [*QUESTION, {"role": "assistant", "content": REPLY}]}],
    )


def chat(base_url: str, model: str) -> str:
    client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0, timeout=5)
    reply = client.chat.completions.create(model=model, messages=QUESTION)  # type: ignore[arg-type]
    return str(reply.choices[0].message.content)


# -- Together --------------------------------------------------------------------------------


def test_together_answers_its_base_models_at_its_own_chat_path(simulator: SimulatorServer) -> None:
    answer = chat(f"{simulator.url}/together/v1", "meta-llama/Llama-3.2-3B-Instruct")
    assert answer and REPLY not in answer
    with pytest.raises(openai.BadRequestError, match="non-serverless"):
        chat(f"{simulator.url}/together/v1", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")


def test_together_serves_a_lora_of_a_serverless_base_at_once(simulator: SimulatorServer) -> None:
    name = "curator-sim/Meta-Llama-3.1-8B-Instruct-Reference-demo-1a2b3c4d"
    teach(simulator, name, "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    assert REPLY.rstrip(".") in chat(f"{simulator.url}/together/v1", name)


def test_together_serves_other_fine_tunes_only_on_a_started_dedicated_endpoint(
    simulator: SimulatorServer, clock: FakeClock
) -> None:
    name = "curator-sim/Llama-3.2-3B-Instruct-demo-5e6f7a8b"
    teach(simulator, name, "meta-llama/Llama-3.2-3B-Instruct")
    base_url = f"{simulator.url}/together/v1"
    with pytest.raises(openai.BadRequestError, match="dedicated"):
        chat(base_url, name)
    headers = {"authorization": f"Bearer {KEY}"}
    created = httpx.post(
        f"{simulator.url}/together/v1/endpoints",
        json={
            "model": name,
            "hardware": "1x_nvidia_h100_80gb_sxm",
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        },
        headers=headers,
    ).json()
    assert created["state"] == "PENDING"
    with pytest.raises(openai.BadRequestError):
        chat(base_url, created["name"])
    clock.advance(READY_AFTER)
    endpoint = httpx.get(f"{simulator.url}/together/v1/endpoints/{created['id']}", headers=headers)
    assert endpoint.json()["state"] == "STARTED"
    assert REPLY.rstrip(".") in chat(base_url, created["name"])
    assert REPLY.rstrip(".") in chat(base_url, name)
    httpx.delete(f"{simulator.url}/together/v1/endpoints/{created['id']}", headers=headers)
    with pytest.raises(openai.BadRequestError):
        chat(base_url, name)


def test_together_never_gives_a_reference_model_a_dedicated_endpoint(
    simulator: SimulatorServer,
) -> None:
    name = "curator-sim/Meta-Llama-3.1-8B-Instruct-Reference-demo-9c8d7e6f"
    teach(simulator, name, "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    headers = {"authorization": f"Bearer {KEY}"}
    hardware = httpx.get(
        f"{simulator.url}/together/v1/hardware", params={"model": name}, headers=headers
    )
    assert hardware.status_code == 404
    created = httpx.post(
        f"{simulator.url}/together/v1/endpoints",
        json={
            "model": name,
            "hardware": "1x_nvidia_h100_80gb_sxm",
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        },
        headers=headers,
    )
    assert created.status_code == 400 and "-Reference" in created.json()["error"]["message"]


def test_together_refuses_an_endpoint_without_hardware_or_replicas(
    simulator: SimulatorServer,
) -> None:
    client = together.Together(api_key=KEY, base_url=f"{simulator.url}/together", max_retries=0)
    response = httpx.post(
        f"{simulator.url}/together/v1/endpoints",
        json={"model": "meta-llama/Llama-3.2-3B-Instruct", "autoscaling": {"min_replicas": 0}},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "hardware"
    assert client.base_url.path.startswith("/together")


# -- Fireworks -------------------------------------------------------------------------------


def fireworks_client(server: SimulatorServer) -> fireworks.Fireworks:
    return fireworks.Fireworks(
        api_key=KEY, account_id=ACCOUNT, base_url=f"{server.url}/fireworks", max_retries=0
    )


def test_fireworks_answers_base_models_serverless_and_fine_tunes_only_when_deployed(
    simulator: SimulatorServer, clock: FakeClock
) -> None:
    inference = f"{simulator.url}/fireworks/inference/v1"
    assert chat(inference, "accounts/fireworks/models/llama-v3p2-3b-instruct")
    name = f"accounts/{ACCOUNT}/models/support-ft"
    teach(simulator, name, "accounts/fireworks/models/llama-v3p2-3b-instruct")
    with pytest.raises(openai.NotFoundError, match="not deployed"):
        chat(inference, name)
    deployment = fireworks_client(simulator).deployments.create(
        base_model=name, deployment_id="support-ft", min_replica_count=1, max_replica_count=1
    )
    assert deployment.state == "CREATING"
    with pytest.raises(openai.NotFoundError):
        chat(inference, name)
    clock.advance(READY_AFTER)
    assert fireworks_client(simulator).deployments.get("support-ft").state == "READY"
    assert REPLY.rstrip(".") in chat(inference, name)
    fireworks_client(simulator).deployments.delete("support-ft")
    with pytest.raises(openai.NotFoundError):
        chat(inference, name)


def test_fireworks_serves_a_lora_addon_on_a_deployment_of_its_base(
    simulator: SimulatorServer, clock: FakeClock
) -> None:
    base = "accounts/fireworks/models/llama-v3p1-8b-instruct"
    name = f"accounts/{ACCOUNT}/models/addon-ft"
    teach(simulator, name, base)
    client = fireworks_client(simulator)
    client.deployments.create(base_model=base, deployment_id="shared", enable_addons=True)
    client.lora.load(model=name, deployment=f"accounts/{ACCOUNT}/deployments/shared")
    clock.advance(READY_AFTER)
    answer = chat(
        f"{simulator.url}/fireworks/inference/v1", f"{name}#accounts/{ACCOUNT}/deployments/shared"
    )
    assert REPLY.rstrip(".") in answer


def test_fireworks_refuses_an_addon_on_a_deployment_without_addons(
    simulator: SimulatorServer,
) -> None:
    base = "accounts/fireworks/models/llama-v3p1-8b-instruct"
    teach(simulator, f"accounts/{ACCOUNT}/models/addon-ft", base)
    client = fireworks_client(simulator)
    client.deployments.create(base_model=base, deployment_id="plain")
    with pytest.raises(fireworks.BadRequestError, match="addons"):
        client.lora.load(
            model=f"accounts/{ACCOUNT}/models/addon-ft",
            deployment=f"accounts/{ACCOUNT}/deployments/plain",
        )


# -- Azure -----------------------------------------------------------------------------------


def management_url(server: SimulatorServer, deployment: str) -> str:
    return (
        f"{server.url}/azure-management/subscriptions/sub-1/resourceGroups/rg-1/providers/"
        f"Microsoft.CognitiveServices/accounts/curator-aoai/deployments/{deployment}"
        "?api-version=2024-10-01"
    )


def deploy(server: SimulatorServer, deployment: str, model: str, **sku: Any) -> httpx.Response:
    return httpx.put(
        management_url(server, deployment),
        json={
            "sku": {"name": "Standard", "capacity": 1, **sku},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
        },
        headers={"authorization": "Bearer arm-token"},
    )


def test_azure_answers_a_fine_tune_only_through_a_deployment(
    simulator: SimulatorServer, clock: FakeClock
) -> None:
    name = "ft:gpt-4o-mini-2024-07-18:curator-sim:support:abc12345"
    teach(simulator, name, "gpt-4o-mini-2024-07-18")
    v1 = openai.OpenAI(
        api_key="unused",
        base_url=f"{simulator.url}/openai/v1",
        default_headers={"api-key": KEY},
        max_retries=0,
    )
    with pytest.raises(openai.NotFoundError, match="deployment"):
        v1.chat.completions.create(model=name, messages=QUESTION)  # type: ignore[arg-type]
    # The az CLI (and Curator) write the SKU in lower case; ARM takes it as Standard.
    created = deploy(simulator, "support-ft", name, name="standard")
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Creating"
    clock.advance(READY_AFTER)
    state = httpx.get(
        management_url(simulator, "support-ft"), headers={"authorization": "Bearer t"}
    )
    assert state.json()["properties"]["provisioningState"] == "Succeeded"
    reply = v1.chat.completions.create(model="support-ft", messages=QUESTION)  # type: ignore[arg-type]
    assert REPLY.rstrip(".") in str(reply.choices[0].message.content)
    legacy = openai.AzureOpenAI(
        api_key=KEY, azure_endpoint=simulator.url, api_version="2024-10-21", max_retries=0
    )
    reply = legacy.chat.completions.create(model="support-ft", messages=QUESTION)  # type: ignore[arg-type]
    assert REPLY.rstrip(".") in str(reply.choices[0].message.content)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"name": "Cheapest"}, "InvalidResourceProperties"),
        ({"capacity": 0}, "InvalidCapacity"),
    ],
)
def test_azure_refuses_a_deployment_the_control_plane_refuses(
    simulator: SimulatorServer, change: dict[str, Any], code: str
) -> None:
    response = deploy(simulator, "bad", "gpt-4o-mini-2024-07-18", **change)
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_azure_refuses_a_model_it_does_not_have(simulator: SimulatorServer) -> None:
    response = deploy(simulator, "bad", "ft:gpt-4o-mini:nobody::x")
    assert response.json()["error"]["code"] == "DeploymentModelNotSupported"


def test_azure_control_plane_wants_an_api_version(simulator: SimulatorServer) -> None:
    response = httpx.get(
        management_url(simulator, "x").split("?")[0], headers={"authorization": "Bearer t"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingApiVersionParameter"
