"""Providers configured in settings, by name.

``CURATOR_TRAINING_PROVIDERS`` is a list of dicts::

    {"name": "openai", "kind": "openai", "label": "OpenAI",
     "base_url": None, "api_key_env": "OPENAI_API_KEY",
     "models": {"gpt-4.1-mini-2025-04-14": {"token_limit": 65536, "price_per_million": 5.0}}}

``kind`` is "openai" (any OpenAI-compatible URL), "simulator" (the bundled simulator at
``CURATOR_SIMULATOR_URL``) or "local" (LoRA on our own GPU; its class is named by the
optional ``backend`` dotted path). Keys are never stored in settings, only the name of the
environment variable that holds one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from training.providers.base import PermanentProviderError, Provider

KINDS = frozenset({"openai", "simulator", "local"})
DEFAULT_SIMULATOR_URL = "http://127.0.0.1:8765/v1"
# The simulator accepts any key but one starting with "sk-bad"; a fixed one keeps
# the simulator usable with no secrets configured at all.
SIMULATOR_API_KEY = "sk-curator-simulator"
DEFAULT_BACKENDS = {"local": "training.providers.local.LocalProvider"}
# By path, like the other backends: the openai SDK takes seconds to import, and pages and
# commands that only read the configuration (the URL config, system checks) never need it.
OPENAI_BACKEND = "training.providers.openai_provider.OpenAIProvider"

# Training prices in USD per million trained tokens, and the per-example token limit.
DEFAULT_MODELS: dict[str, dict[str, float | int]] = {
    "gpt-4.1-2025-04-14": {"token_limit": 65536, "price_per_million": 25.0},
    "gpt-4.1-mini-2025-04-14": {"token_limit": 65536, "price_per_million": 5.0},
    "gpt-4.1-nano-2025-04-14": {"token_limit": 65536, "price_per_million": 1.5},
    "gpt-4o-mini-2024-07-18": {"token_limit": 65536, "price_per_million": 3.0},
}


class ProviderNotConfigured(PermanentProviderError):
    """The named provider is missing from settings or lacks what it needs (e.g. its key)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="provider_not_configured")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    token_limit: int
    price_per_million: float

    def estimate_cost(self, tokens: int) -> float:
        """USD for training on ``tokens`` tokens (epochs already multiplied in)."""
        return round(tokens * self.price_per_million / 1_000_000, 4)


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: str
    label: str
    base_url: str | None = None
    api_key_env: str | None = None
    models: Mapping[str, ModelInfo] = field(default_factory=dict)
    timeout: float = 60.0
    backend: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_simulator(self) -> bool:
        return self.kind == "simulator"

    def api_key(self) -> str | None:
        if self.api_key_env:
            value = os.environ.get(self.api_key_env, "").strip()
            if value:
                return value
        if self.is_simulator:
            return SIMULATOR_API_KEY
        return None

    @property
    def is_usable(self) -> bool:
        """Whether it can be called now: remote kinds other than the simulator need a key."""
        return self.kind != "openai" or self.api_key() is not None

    def model(self, name: str) -> ModelInfo | None:
        return self.models.get(name)


def default_providers() -> list[dict[str, Any]]:
    """The list used when the setting is absent: OpenAI if a key is set, else the simulator."""
    if os.environ.get("OPENAI_API_KEY", "").strip():
        return [
            {
                "name": "openai",
                "kind": "openai",
                "label": "OpenAI",
                "api_key_env": "OPENAI_API_KEY",
                "models": DEFAULT_MODELS,
            }
        ]
    return [
        {
            "name": "simulator",
            "kind": "simulator",
            "label": "OpenAI simulator",
            "models": DEFAULT_MODELS,
        }
    ]


def _model_infos(name: str, raw: Any) -> dict[str, ModelInfo]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"CURATOR_TRAINING_PROVIDERS[{name!r}].models must be a dict")
    models: dict[str, ModelInfo] = {}
    for model, info in raw.items():
        where = f"CURATOR_TRAINING_PROVIDERS[{name!r}].models[{model!r}]"
        if not isinstance(info, Mapping):
            raise ImproperlyConfigured(f"{where} must be a dict with token_limit and price")
        try:
            models[model] = ModelInfo(
                name=model,
                token_limit=int(info["token_limit"]),
                price_per_million=float(info["price_per_million"]),
            )
        except KeyError as exc:
            raise ImproperlyConfigured(f"{where} lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError):
            raise ImproperlyConfigured(f"{where} has a non-numeric value") from None
    return models


def _parse(entry: Any, index: int) -> ProviderConfig:
    if not isinstance(entry, Mapping):
        raise ImproperlyConfigured(f"CURATOR_TRAINING_PROVIDERS[{index}] must be a dict")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ImproperlyConfigured(f"CURATOR_TRAINING_PROVIDERS[{index}] needs a 'name'")
    kind = entry.get("kind", "openai")
    if kind not in KINDS:
        raise ImproperlyConfigured(
            f"CURATOR_TRAINING_PROVIDERS[{name!r}].kind is {kind!r}; "
            f"expected one of {sorted(KINDS)}"
        )
    base_url = entry.get("base_url") or None
    if kind == "simulator" and base_url is None:
        base_url = getattr(settings, "CURATOR_SIMULATOR_URL", DEFAULT_SIMULATOR_URL)
    known = {"name", "kind", "label", "base_url", "api_key_env", "models", "timeout", "backend"}
    return ProviderConfig(
        name=name,
        kind=kind,
        label=entry.get("label") or name,
        base_url=base_url,
        api_key_env=entry.get("api_key_env") or None,
        models=_model_infos(name, entry.get("models")),
        timeout=float(entry.get("timeout", 60.0)),
        backend=entry.get("backend") or DEFAULT_BACKENDS.get(kind),
        options={k: v for k, v in entry.items() if k not in known},
    )


def provider_configs() -> list[ProviderConfig]:
    """Every configured provider in settings order; ImproperlyConfigured if malformed."""
    raw = getattr(settings, "CURATOR_TRAINING_PROVIDERS", None)
    if raw is None:
        raw = default_providers()
    if not isinstance(raw, list | tuple):
        raise ImproperlyConfigured("CURATOR_TRAINING_PROVIDERS must be a list of dicts")
    configs = [_parse(entry, index) for index, entry in enumerate(raw)]
    seen: set[str] = set()
    for config in configs:
        if config.name in seen:
            raise ImproperlyConfigured(
                f"CURATOR_TRAINING_PROVIDERS names {config.name!r} more than once"
            )
        seen.add(config.name)
    return configs


def available_providers(*, include_unusable: bool = False) -> list[ProviderConfig]:
    """Providers to offer in the UI: by default only those that can be called now."""
    return [c for c in provider_configs() if include_unusable or c.is_usable]


def get_config(name: str) -> ProviderConfig:
    for config in provider_configs():
        if config.name == name:
            return config
    raise ProviderNotConfigured(f"no training provider named {name!r} is configured")


def build_provider(config: ProviderConfig) -> Provider:
    if config.kind in {"openai", "simulator"}:
        api_key = config.api_key()
        if api_key is None:
            raise ProviderNotConfigured(
                f"{config.label}: set the environment variable "
                f"{config.api_key_env or '(api_key_env not configured)'} to its API key"
            )
        return import_string(OPENAI_BACKEND)(
            api_key=api_key,
            base_url=config.base_url,
            name=config.name,
            label=config.label,
            is_simulator=config.is_simulator,
            timeout=config.timeout,
        )
    if not config.backend:
        raise ProviderNotConfigured(f"{config.label}: no backend class configured")
    try:
        backend = import_string(config.backend)
    except ImportError as exc:
        raise ProviderNotConfigured(
            f"{config.label}: cannot import backend {config.backend!r} ({exc})"
        ) from None
    provider = backend(config=config)
    if not isinstance(provider, Provider):
        raise ImproperlyConfigured(f"{config.backend} does not implement training Provider")
    return provider


def get_provider(name: str) -> Provider:
    """The provider called ``name``; ProviderNotConfigured if it cannot be built."""
    return build_provider(get_config(name))
