"""Chat completions from OpenAI-compatible servers, through the official ``openai`` SDK.

The one module that talks to chat endpoints (OpenAI, Azure, vLLM, Ollama, TGI, Together or
Fireworks inference, the bundled simulator). The SDK's own retries are off: ``complete``
retries 429, 5xx, timeouts and dropped connections itself, with exponential backoff that
honours Retry-After, so the attempts are counted and the last reason is kept.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

from training.providers.registry import (
    INFERENCE_URLS,
    SIMULATOR_API_KEY,
    ProviderNotConfigured,
    provider_configs,
)
from training.registry.models import Model
from training.registry.services import LOCAL, endpoint_configs
from training.simulator_paths import FINGERPRINT

if TYPE_CHECKING:
    import openai

# USD per million tokens (input, output) for estimating what a run costs. Fine-tuned
# OpenAI models cost twice their base model per token.
CHAT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4.1-2025-04-14": (2.0, 8.0),
    "gpt-4.1-mini-2025-04-14": (0.4, 1.6),
    "gpt-4.1-nano-2025-04-14": (0.1, 0.4),
    "gpt-4o-2024-08-06": (2.5, 10.0),
    "gpt-4o-mini-2024-07-18": (0.15, 0.6),
    "gpt-3.5-turbo-0125": (0.5, 1.5),
}
FINE_TUNED_PRICE_FACTOR = 2.0
_RETRY_STATUSES = frozenset({408, 409, 429})


class EndpointError(Exception):
    """An example could not be generated; ``transient`` tells whether retrying may help."""

    def __init__(self, message: str, *, transient: bool, unreachable: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.unreachable = unreachable


class EndpointNotConfigured(Exception):
    """The model's endpoint lacks its URL or key; the message names the setting."""


@dataclass
class Completion:
    message: dict[str, Any]
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    attempts: int
    simulated: bool


@dataclass
class ChatEndpoint:
    base_url: str
    api_key: str
    model: str
    label: str
    max_concurrency: int = 64
    prices: tuple[float, float] | None = None
    timeout: float = 120.0
    # Azure OpenAI takes its key in an ``api-key`` header, as the training provider sends it.
    azure: bool = False
    _client: openai.OpenAI | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.base_url

    def client(self) -> openai.OpenAI:
        if self._client is None:
            # The SDK's type modules take a second to import: loaded by the first request, not
            # by every manage.py command whose URL config reaches the evaluation views.
            import openai

            self._client = openai.OpenAI(
                api_key=self.api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout,
                default_headers={"api-key": self.api_key} if self.azure else None,
            )
        return self._client

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        if self.prices is None or prompt_tokens is None:
            return None
        price_in, price_out = self.prices
        return (prompt_tokens * price_in + (completion_tokens or 0) * price_out) / 1_000_000


def _prices_for(name: str) -> tuple[float, float] | None:
    if name in CHAT_PRICES:
        return CHAT_PRICES[name]
    if name.startswith("ft:"):
        base = name.split(":")[1]
        if base in CHAT_PRICES:
            price_in, price_out = CHAT_PRICES[base]
            return (price_in * FINE_TUNED_PRICE_FACTOR, price_out * FINE_TUNED_PRICE_FACTOR)
    return None


def served_name(model: Model) -> str:
    """The name chat requests use for ``model``: the deployment its fine-tune was served
    under where the provider needs one (Azure), else the model's own name."""
    job = model.job if model.job_id else None
    serving = ((job.artifacts or {}).get("serving") or {}) if job is not None else {}
    return str(serving.get("model") or model.name)


def endpoint_for(model: Model) -> ChatEndpoint:
    """Where to send chat requests for ``model``; EndpointNotConfigured says what is missing."""
    timeout = float(settings.CURATOR_EVAL_TIMEOUT)
    endpoints = endpoint_configs()
    if model.provider in endpoints:
        entry = endpoints[model.provider]
        key_env = entry.get("api_key_env") or ""
        key: str | None = os.environ.get(key_env, "").strip() if key_env else ""
        if key_env and not key:
            raise EndpointNotConfigured(
                f"endpoint {model.provider!r}: set the environment variable {key_env} to its key"
            )
        prices = None
        if "price_per_million_input" in entry:
            prices = (
                float(entry.get("price_per_million_input") or 0),
                float(entry.get("price_per_million_output") or 0),
            )
        return ChatEndpoint(
            base_url=str(entry["base_url"]),
            # Local servers (vLLM, Ollama, llama.cpp) take any key; the SDK needs one.
            api_key=key or "unused",
            model=model.name,
            label=entry.get("label") or model.provider,
            max_concurrency=int(entry.get("max_concurrency") or 64),
            prices=prices,
            timeout=float(entry.get("timeout") or timeout),
        )
    if model.provider == LOCAL:
        raise EndpointNotConfigured("local models are generated on GPU workers, not over HTTP")
    # Malformed provider settings raise ImproperlyConfigured here, as themselves: they are
    # not a reason to try another provider.
    configs = {config.name: config for config in provider_configs()}
    config = configs.get(model.provider)
    if config is not None:
        key = config.api_key()
        if key is None:
            raise EndpointNotConfigured(
                f"{config.label}: set the environment variable {config.api_key_env} to its key"
            )
        try:
            # The provider's own chat endpoint (the simulator's when it is simulated): its
            # key goes nowhere else.
            base_url = config.inference_url
        except ProviderNotConfigured as exc:
            raise EndpointNotConfigured(str(exc)) from None
        return ChatEndpoint(
            base_url=base_url,
            api_key=key,
            model=served_name(model),
            label=config.display_label,
            prices=_prices_for(model.name),
            timeout=timeout,
            azure=bool(config.options.get("azure")),
        )
    if model.provider == "openai":
        # An installation whose provider list leaves OpenAI out still evaluates OpenAI models
        # named "openai" through the OPENAI_* variables, at OpenAI or the URL they name.
        base_url = os.environ.get("OPENAI_BASE_URL", "").strip()
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        if not key and not base_url:
            raise EndpointNotConfigured(
                "openai: set OPENAI_API_KEY (and OPENAI_BASE_URL if needed)"
            )
        return ChatEndpoint(
            base_url=base_url or INFERENCE_URLS["openai"],
            # A compatible server at OPENAI_BASE_URL (the simulator) may not need a key.
            api_key=key or SIMULATOR_API_KEY,
            model=model.name,
            label="OpenAI",
            prices=_prices_for(model.name),
            timeout=timeout,
        )
    raise EndpointNotConfigured(
        f"no provider or endpoint named {model.provider!r} is configured "
        "(CURATOR_TRAINING_PROVIDERS or the model endpoints)"
    )


# One gate per endpoint URL in this process: runs sharing a worker share the endpoint's limit.
_gates: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


def gate(endpoint: ChatEndpoint) -> threading.BoundedSemaphore:
    key = (endpoint.url, endpoint.max_concurrency)
    with _gates_lock:
        if key not in _gates:
            _gates[key] = threading.BoundedSemaphore(endpoint.max_concurrency)
        return _gates[key]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _classify(
    exc: openai.OpenAIError, endpoint: ChatEndpoint
) -> tuple[EndpointError, float | None]:
    import openai

    where = f"{endpoint.url} ({endpoint.model})"
    if isinstance(exc, openai.APITimeoutError):
        return EndpointError(f"{where}: the request timed out", transient=True), None
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {cause}" if cause else ""
        return (
            EndpointError(f"cannot reach {endpoint.url}{detail}", transient=True, unreachable=True),
            None,
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        message = body.get("message") if isinstance(body.get("message"), str) else exc.message
        transient = status >= 500 or status in _RETRY_STATUSES
        return (
            EndpointError(f"{where}: HTTP {status}: {message}", transient=transient),
            _retry_after(exc),
        )
    return EndpointError(f"{where}: {exc}", transient=False), None


def _message(choice_message: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice_message.content}
    calls = getattr(choice_message, "tool_calls", None)
    if calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in calls
        ]
    return message


def complete(
    endpoint: ChatEndpoint,
    *,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    temperature: float = 0.0,
    max_tokens: int | None = None,
    seed: int | None = None,
    response_format: dict[str, Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Completion:
    """One chat completion, retried on transient failures; EndpointError when it gives up."""
    attempts = int(settings.CURATOR_EVAL_MAX_ATTEMPTS)
    base_delay = float(settings.CURATOR_EVAL_RETRY_SECONDS)
    request: dict[str, Any] = {
        "model": endpoint.model,
        "messages": messages,
        "temperature": temperature,
    }
    if tools:
        request["tools"] = tools
    if max_tokens:
        request["max_tokens"] = max_tokens
    if seed is not None:
        request["seed"] = seed
    if response_format:
        request["response_format"] = response_format
    import openai

    semaphore = gate(endpoint)
    for attempt in range(1, attempts + 1):
        started = time.perf_counter()
        try:
            with semaphore:
                started = time.perf_counter()
                reply = endpoint.client().chat.completions.create(**request)
        except openai.OpenAIError as exc:
            error, retry_after = _classify(exc, endpoint)
            if not error.transient or attempt == attempts:
                raise error from None
            delay = base_delay * 2 ** (attempt - 1)
            sleep(max(delay, min(retry_after or 0.0, 60.0)))
            continue
        latency = (time.perf_counter() - started) * 1000
        if not reply.choices:
            raise EndpointError(f"{endpoint.url}: the reply has no choices", transient=False)
        usage = reply.usage
        return Completion(
            message=_message(reply.choices[0].message),
            latency_ms=latency,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            attempts=attempt,
            simulated=reply.system_fingerprint == FINGERPRINT,
        )
    raise AssertionError("unreachable")  # pragma: no cover
