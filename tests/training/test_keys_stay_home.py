"""Each provider's key goes only to that provider's hosts, for inference and for training.

Requests are captured below the real SDKs (openai, together, fireworks-ai) at the transports
of httpx and httpx2 (openai's), with fake keys: nothing leaves this machine, and every request the SDKs would have
sent is checked for the host it was addressed to.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import httpx2
import pytest
from django.core.exceptions import ImproperlyConfigured

from training.evaluation.client import EndpointNotConfigured, complete, endpoint_for
from training.providers import get_provider
from training.registry.models import Model

KEYS = {
    "openai": "sk-fake-openai-0001",
    "together": "fake-together-key-0002",
    "fireworks": "fw-fake-key-0003",
    "azure": "fake-azure-key-0004",
}
# The hosts each key may be sent to: Together's SDK trains at api.together.ai, its
# OpenAI-compatible chat lives at api.together.xyz (both Together's).
HOMES = {
    "openai": {"api.openai.com"},
    "together": {"api.together.ai", "api.together.xyz"},
    "fireworks": {"api.fireworks.ai"},
    "azure": {"curator-test.openai.azure.com"},
}
CHAT_REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}
# One body every SDK's "list jobs" parses as an empty page.
EMPTY_LIST = {"object": "list", "data": [], "has_more": False, "supervisedFineTuningJobs": []}


class Captured:
    def __init__(self) -> None:
        self.requests: list[Any] = []

    def handle(self, request: Any) -> Any:
        self.requests.append(request)
        body = CHAT_REPLY if request.url.path.endswith("/chat/completions") else EMPTY_LIST
        # openai's SDK sends through httpx2, together's and fireworks' through httpx.
        library = httpx2 if isinstance(request, httpx2.Request) else httpx
        return library.Response(
            200, headers={"content-type": "application/json"}, content=json.dumps(body)
        )

    def keys_sent(self) -> list[tuple[str, str]]:
        """(provider whose key it carried, host) for every captured request."""
        sent = []
        for request in self.requests:
            credentials = " ".join(
                request.headers.get(name, "") for name in ("authorization", "api-key")
            )
            for provider, key in KEYS.items():
                if key in credentials:
                    sent.append((provider, request.url.host))
        return sent


@pytest.fixture
def captured(monkeypatch: Any, settings: Any) -> Captured:
    capture = Captured()
    for transport in (httpx.HTTPTransport, httpx2.HTTPTransport):
        monkeypatch.setattr(
            transport, "handle_request", lambda _self, request: capture.handle(request)
        )
    for name in ("OPENAI_BASE_URL", "TOGETHER_BASE_URL", "FIREWORKS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEYS["openai"])
    monkeypatch.setenv("TOGETHER_API_KEY", KEYS["together"])
    monkeypatch.setenv("FIREWORKS_API_KEY", KEYS["fireworks"])
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", "curator-test")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEYS["azure"])
    settings.CURATOR_EVAL_ENDPOINTS = []
    settings.CURATOR_EVAL_MAX_ATTEMPTS = 1
    settings.CURATOR_TRAINING_PROVIDERS = [
        {"name": "openai", "kind": "openai", "api_key_env": "OPENAI_API_KEY"},
        {"name": "together", "kind": "together", "api_key_env": "TOGETHER_API_KEY"},
        {"name": "fireworks", "kind": "fireworks", "api_key_env": "FIREWORKS_API_KEY"},
        {
            "name": "azure",
            "kind": "openai",
            "label": "Azure OpenAI",
            "base_url": "https://curator-test.openai.azure.com/openai/v1",
            "api_key_env": "AZURE_OPENAI_API_KEY",
            "azure": True,
        },
    ]
    return capture


MODELS = {
    "openai": "ft:gpt-4.1-mini-2025-04-14:acme::abc123",
    "together": "acme/Meta-Llama-3.1-8B-Instruct-Reference-cur-0a1b2c3d4e5f",
    "fireworks": "accounts/curator-test/models/curator-0a1b2c3d",
    "azure": "gpt-4.1-mini-ft-curator",
}


@pytest.mark.parametrize("provider", sorted(KEYS))
def test_evaluating_a_model_sends_its_key_only_to_its_providers_chat_endpoint(
    captured: Captured, provider: str
) -> None:
    endpoint = endpoint_for(Model(provider=provider, name=MODELS[provider]))
    reply = complete(endpoint, messages=[{"role": "user", "content": "Hi"}])

    assert reply.message["content"] == "Hello."
    sent = captured.keys_sent()
    assert sent, "the request carried no key"
    assert {who for who, _ in sent} == {provider}
    assert {host for _, host in sent} <= HOMES[provider]
    chat = captured.requests[-1]
    assert chat.url.path.endswith("/chat/completions")
    assert json.loads(chat.content)["model"] == MODELS[provider]


def test_together_and_fireworks_models_are_answered_at_their_inference_paths(
    captured: Captured,
) -> None:
    for provider in ("together", "fireworks"):
        complete(
            endpoint_for(Model(provider=provider, name=MODELS[provider])),
            messages=[{"role": "user", "content": "Hi"}],
        )
    urls = [str(request.url) for request in captured.requests]
    assert urls == [
        "https://api.together.xyz/v1/chat/completions",
        "https://api.fireworks.ai/inference/v1/chat/completions",
    ]


@pytest.mark.parametrize("provider", sorted(KEYS))
def test_training_calls_send_each_key_only_to_its_providers_host(
    captured: Captured, provider: str
) -> None:
    get_provider(provider).ping()

    sent = captured.keys_sent()
    assert sent and {who for who, _ in sent} == {provider}
    assert {host for _, host in sent} <= HOMES[provider]


def test_a_model_of_an_unconfigured_provider_is_refused_by_name_not_sent_to_openai(
    captured: Captured,
) -> None:
    with pytest.raises(EndpointNotConfigured, match="'replicate'"):
        endpoint_for(Model(provider="replicate", name="some-model"))
    assert captured.requests == []


def test_a_malformed_inference_url_surfaces_as_a_configuration_error_naming_it(
    captured: Captured, settings: Any
) -> None:
    settings.CURATOR_TRAINING_PROVIDERS = [
        {
            "name": "together",
            "kind": "together",
            "api_key_env": "TOGETHER_API_KEY",
            "inference_url": "api.together.xyz/v1",
        }
    ]
    with pytest.raises(ImproperlyConfigured, match=r"\['together'\]\.inference_url"):
        endpoint_for(Model(provider="together", name=MODELS["together"]))
    assert captured.requests == []


def test_azure_without_its_endpoint_is_a_configuration_error_not_openai(
    captured: Captured, settings: Any
) -> None:
    settings.CURATOR_TRAINING_PROVIDERS = [
        {"name": "azure", "kind": "openai", "api_key_env": "AZURE_OPENAI_API_KEY", "azure": True}
    ]
    with pytest.raises(ImproperlyConfigured, match="Azure OpenAI: set base_url"):
        endpoint_for(Model(provider="azure", name=MODELS["azure"]))
    assert captured.requests == []


def test_an_explicit_inference_url_is_where_the_key_goes(captured: Captured, settings: Any) -> None:
    settings.CURATOR_TRAINING_PROVIDERS = [
        {
            "name": "together",
            "kind": "together",
            "api_key_env": "TOGETHER_API_KEY",
            "inference_url": "https://api.together.ai/v1",
        }
    ]
    complete(
        endpoint_for(Model(provider="together", name=MODELS["together"])),
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert str(captured.requests[0].url) == "https://api.together.ai/v1/chat/completions"
