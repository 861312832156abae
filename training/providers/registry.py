"""Providers configured in settings, by name.

``CURATOR_TRAINING_PROVIDERS`` is a list of dicts::

    {"name": "openai", "kind": "openai", "label": "OpenAI",
     "base_url": None, "api_key_env": "OPENAI_API_KEY",
     "models": {"gpt-4.1-mini-2025-04-14": {"token_limit": 65536, "price_per_million": 5.0}}}

``kind`` is "openai" (OpenAI, Azure OpenAI with ``"azure": True``, or any compatible URL),
"together", "fireworks", "simulator" (the bundled simulator's OpenAI shape at
``CURATOR_SIMULATOR_URL``) or "local" (LoRA on our own GPU; its class is named by the
optional ``backend`` dotted path). Keys are never stored in settings, only the name of the
environment variable that holds one.

A hosted provider whose key is not set goes to the simulator instead (its own API shape
under ``CURATOR_SIMULATOR_URL``), labelled "(simulated)", unless
``CURATOR_SIMULATE_WITHOUT_KEYS`` is off; so a fresh install and the tests exercise every
provider offline. Prices and per-example token limits are not here: they are the price
table's (``training.pricing``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from training.providers.base import LocalBackend, PermanentProviderError, Provider
from training.simulator_paths import PREFIXES

KINDS = frozenset({"openai", "simulator", "local", "together", "fireworks"})
# Hosted kinds; each speaks its own API, which the simulator serves under SIMULATOR_PATHS.
HOSTED_KINDS = frozenset({"openai", "together", "fireworks"})
SIMULATOR_PATHS = {"openai": "/v1", **PREFIXES}
KIND_LABELS = {"openai": "OpenAI", "together": "Together AI", "fireworks": "Fireworks AI"}
DEFAULT_SIMULATOR_URL = "http://127.0.0.1:8765/v1"
# Where each hosted kind serves chat completions (OpenAI-compatible), when its entry names no
# ``inference_url``: Together's and Fireworks' inference APIs are not their fine-tuning hosts'
# roots, and a missing URL must never let the openai SDK fall back to api.openai.com with
# another provider's key. Sources: docs.together.ai "OpenAI compatibility" (base_url
# https://api.together.xyz/v1); docs.fireworks.ai "OpenAI compatibility"
# (https://api.fireworks.ai/inference/v1).
INFERENCE_URLS = {
    "openai": "https://api.openai.com/v1",
    "together": "https://api.together.xyz/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
}
# Epochs each provider trains when none are given ("auto"): Together's SDK sends n_epochs=1
# (together 3.1.1 fine_tuning.create); Fireworks' default is 1 epoch (docs.fireworks.ai
# fine-tuning "epochs: default 1"). OpenAI's own rule depends on the example count.
DEFAULT_EPOCHS = {"together": 1, "fireworks": 1}
# Evaluations on the validation file Curator asks each provider for, where the provider bills
# them: Together runs n_evals passes over it and bills n_evals x its tokens
# (docs.together.ai fine-tuning pricing).
VALIDATION_PASSES = {"together": 10}
# The same paths on the simulator, beside its fine-tuning shapes (Together's SDK calls
# /v1/... under its root, Fireworks serves inference under /inference/v1).
SIMULATOR_INFERENCE_PATHS = {
    "openai": "/v1",
    "together": "/together/v1",
    "fireworks": "/fireworks/inference/v1",
}
# The simulator's Fireworks account when no real one is configured.
SIMULATOR_ACCOUNT = "curator-sim"
# The simulator accepts any key but one starting with "sk-bad"; a fixed one keeps
# the simulator usable with no secrets configured at all.
SIMULATOR_API_KEY = "sk-curator-simulator"
DEFAULT_BACKENDS = {"local": "training.providers.local.LocalProvider"}
# By path, like the other backends: the providers' SDKs take seconds to import, and pages and
# commands that only read the configuration (the URL config, system checks) never need them.
HOSTED_BACKENDS = {
    "openai": "training.providers.openai_provider.OpenAIProvider",
    "together": "training.providers.together_provider.TogetherProvider",
    "fireworks": "training.providers.fireworks_provider.FireworksProvider",
}


class ProviderNotConfigured(PermanentProviderError):
    """The named provider is missing from settings or lacks what it needs (e.g. its key)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="provider_not_configured")


@dataclass(frozen=True)
class ModelInfo:
    """A base model a provider offers; its price lives in the price table."""

    name: str
    token_limit: int


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

    def _own_key(self) -> str | None:
        if self.api_key_env:
            value = os.environ.get(self.api_key_env, "").strip()
            if value:
                return value
        return None

    @property
    def simulated(self) -> bool:
        """A hosted provider without its key, sent to the simulator instead."""
        return (
            self.kind in HOSTED_KINDS
            and self._own_key() is None
            and not (self.kind == "openai" and self.base_url)
            and bool(getattr(settings, "CURATOR_SIMULATE_WITHOUT_KEYS", True))
        )

    @property
    def is_simulator(self) -> bool:
        return self.kind == "simulator" or self.simulated

    @property
    def shape(self) -> str:
        """The API it speaks: "openai", "together", "fireworks" (or "local")."""
        return "openai" if self.kind == "simulator" else self.kind

    @property
    def display_label(self) -> str:
        return f"{self.label} (simulated)" if self.simulated else self.label

    @property
    def url(self) -> str | None:
        """Where its API is reached now (the simulator's, when simulated)."""
        if self.simulated:
            return simulator_url(self.shape)
        return self.base_url

    def api_key(self) -> str | None:
        own = self._own_key()
        if own is not None:
            return own
        if self.simulated:
            # A key of its own per simulated provider, so the simulator's log shows whose
            # key reached which vendor's path (a test fails if one strays).
            return f"{SIMULATOR_API_KEY}-{self.name}"
        if self.is_simulator:
            return SIMULATOR_API_KEY
        return None

    @property
    def is_usable(self) -> bool:
        """Whether it can be called now: hosted kinds need a key, or the simulator."""
        return self.kind not in HOSTED_KINDS or self.api_key() is not None

    @property
    def is_openai_platform(self) -> bool:
        """OpenAI's own API (not Azure, a compatible server or the simulator): the one
        OpenAI's fine-tuning end dates apply to."""
        if self.kind != "openai" or self.is_simulator or self.options.get("azure"):
            return False
        return not self.base_url or "api.openai.com" in self.base_url

    def model(self, name: str) -> ModelInfo | None:
        return self.models.get(name)

    @property
    def allow_paid_deployments(self) -> bool:
        """Whether Curator may itself start deployments that bill by the hour (Together
        dedicated endpoints, Fireworks deployments) to serve a fine-tune: the entry's
        ``allow_paid_deployments``, else ``CURATOR_ALLOW_PAID_DEPLOYMENTS`` (off by default:
        the job page then names what to create by hand)."""
        own = self.options.get("allow_paid_deployments")
        if own is not None:
            return bool(own)
        return bool(getattr(settings, "CURATOR_ALLOW_PAID_DEPLOYMENTS", False))

    @property
    def inference_url(self) -> str:
        """The OpenAI-compatible base URL its models (base and fine-tuned) answer chat at, and
        so the only host its key is ever sent to for inference. ProviderNotConfigured where
        there is none (local models are generated on GPU workers)."""
        if self.simulated:
            return (
                simulator_url("openai").removesuffix("/v1") + SIMULATOR_INFERENCE_PATHS[self.shape]
            )
        if self.kind == "simulator":
            return str(self.base_url)
        explicit = self.options.get("inference_url")
        if explicit:
            return str(explicit).rstrip("/")
        if self.kind == "openai":
            # Azure's v1 API and compatible servers answer chat where they train.
            return (self.base_url or INFERENCE_URLS["openai"]).rstrip("/")
        if self.kind in INFERENCE_URLS:
            return INFERENCE_URLS[self.kind]
        raise ProviderNotConfigured(
            f"{self.label} ({self.name!r}, kind {self.kind!r}) has no chat endpoint: its "
            "models are generated on this installation's GPU workers"
        )


def simulator_url(shape: str = "openai") -> str:
    """The simulator's URL for one API shape, from ``CURATOR_SIMULATOR_URL`` (its OpenAI
    ``…/v1`` URL): the other shapes live beside it under their own paths."""
    base = str(getattr(settings, "CURATOR_SIMULATOR_URL", DEFAULT_SIMULATOR_URL)).rstrip("/")
    root = base.removesuffix("/v1")
    return base if shape == "openai" else f"{root}{SIMULATOR_PATHS[shape]}"


def default_providers() -> list[dict[str, Any]]:
    """The list used when the setting is absent: every hosted provider (simulated where
    its key is missing)."""
    return [
        {"name": "openai", "kind": "openai", "label": "OpenAI", "api_key_env": "OPENAI_API_KEY"},
        {
            "name": "together",
            "kind": "together",
            "label": "Together AI",
            "api_key_env": "TOGETHER_API_KEY",
        },
        {
            "name": "fireworks",
            "kind": "fireworks",
            "label": "Fireworks AI",
            "api_key_env": "FIREWORKS_API_KEY",
            "account_id_env": "FIREWORKS_ACCOUNT_ID",
        },
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
            raise ImproperlyConfigured(f"{where} must be a dict with token_limit")
        try:
            models[model] = ModelInfo(name=model, token_limit=int(info["token_limit"]))
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
    where = f"CURATOR_TRAINING_PROVIDERS[{name!r}]"
    for key in ("base_url", "inference_url", "management_url"):
        url = entry.get(key)
        if url and not (isinstance(url, str) and url.startswith(("https://", "http://"))):
            raise ImproperlyConfigured(f"{where}.{key} must be an http(s) URL, not {url!r}")
    if kind == "openai" and entry.get("azure") and not base_url:
        raise ImproperlyConfigured(
            f"{where} is Azure OpenAI: set base_url to https://RESOURCE.openai.azure.com/openai/v1"
        )
    known = {"name", "kind", "label", "base_url", "api_key_env", "models", "timeout", "backend"}
    return ProviderConfig(
        name=name,
        kind=kind,
        label=entry.get("label") or KIND_LABELS.get(kind) or name,
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


# Settings of an Azure provider that give Curator the right to create deployments (all four,
# or none: the job page then says which deployment to create by hand). The token is read from
# the environment variable named by "management_token_env", like every key.
AZURE_CONTROL_SETTINGS = ("subscription_id", "resource_group", "resource_name")
# Azure Resource Manager, where deployments are created (the entry's "management_url" points
# elsewhere: a sovereign cloud, or the simulator's /azure-management). The management token
# is sent to this host only.
AZURE_MANAGEMENT_URL = "https://management.azure.com"


def azure_control(config: ProviderConfig) -> dict[str, str] | None:
    """The Azure control-plane settings of ``config``, or None where not given;
    ImproperlyConfigured if only some are."""
    if not config.options.get("azure"):
        return None
    values = {key: str(config.options.get(key) or "").strip() for key in AZURE_CONTROL_SETTINGS}
    token_env = str(config.options.get("management_token_env") or "").strip()
    token = os.environ.get(token_env, "").strip() if token_env else ""
    given = [key for key, value in values.items() if value] + (
        ["management_token_env"] if token_env else []
    )
    if not given:
        return None
    missing = [key for key in (*AZURE_CONTROL_SETTINGS, "management_token_env") if key not in given]
    if missing:
        raise ImproperlyConfigured(
            f"CURATOR_TRAINING_PROVIDERS[{config.name!r}] sets {', '.join(given)} but not "
            f"{', '.join(missing)}: give all of the Azure control-plane settings, or none"
        )
    if not token:
        return None
    return {
        "subscription": values["subscription_id"],
        "resource_group": values["resource_group"],
        "resource": values["resource_name"],
        "token": token,
        "management_url": str(config.options.get("management_url") or AZURE_MANAGEMENT_URL).rstrip(
            "/"
        ),
    }


def build_provider(config: ProviderConfig) -> Provider:
    if config.kind in HOSTED_KINDS | {"simulator"}:
        api_key = config.api_key()
        if api_key is None:
            raise ProviderNotConfigured(
                f"{config.label}: set the environment variable "
                f"{config.api_key_env or '(api_key_env not configured)'} to its API key"
            )
        common: dict[str, Any] = {
            "api_key": api_key,
            "base_url": config.url,
            "name": config.name,
            "label": config.display_label,
            "is_simulator": config.is_simulator,
            "timeout": config.timeout,
        }
        if config.kind == "together":
            return import_string(HOSTED_BACKENDS["together"])(
                allow_paid_deployments=config.allow_paid_deployments, **common
            )
        if config.kind == "fireworks":
            account_env = str(config.options.get("account_id_env") or "FIREWORKS_ACCOUNT_ID")
            account = os.environ.get(account_env, "").strip() or str(
                config.options.get("account_id") or ""
            )
            if config.simulated:
                account = SIMULATOR_ACCOUNT
            return import_string(HOSTED_BACKENDS["fireworks"])(
                account_id=account, allow_paid_deployments=config.allow_paid_deployments, **common
            )
        return import_string(HOSTED_BACKENDS["openai"])(
            azure=bool(config.options.get("azure")),
            azure_control=azure_control(config),
            **common,
        )
    raise ProviderNotConfigured(
        f"{config.label} trains on this installation's GPU workers: it has no provider API"
    )


def build_local_backend(config: ProviderConfig) -> LocalBackend:
    """The GPU-worker backend of a provider of kind "local", built from its dotted path."""
    if config.kind != "local":
        raise ProviderNotConfigured(f"{config.label} is not a local provider")
    if not config.backend:
        raise ProviderNotConfigured(f"{config.label}: no backend class configured")
    try:
        backend = import_string(config.backend)
    except ImportError as exc:
        raise ProviderNotConfigured(
            f"{config.label}: cannot import backend {config.backend!r} ({exc})"
        ) from None
    built = backend(config=config)
    if not isinstance(built, LocalBackend):
        raise ImproperlyConfigured(f"{config.backend} does not implement a local backend")
    return built


def get_provider(name: str) -> Provider:
    """The provider called ``name``; ProviderNotConfigured if it cannot be built."""
    return build_provider(get_config(name))


def get_local_backend(name: str) -> LocalBackend:
    """The local (GPU-worker) backend called ``name``; ProviderNotConfigured if it cannot be
    built."""
    return build_local_backend(get_config(name))
