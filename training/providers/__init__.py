"""Fine-tuning backends behind one interface; see ``base.Provider``.

Import what callers need from here: the registry looks providers up by their settings
name, and the error classes tell a retryable failure from one that needs a person.
"""

from training.providers.base import (
    TERMINAL_STATUSES,
    Availability,
    LocalBackend,
    PermanentProviderError,
    Provider,
    ProviderError,
    RemoteCheckpoint,
    RemoteEvent,
    RemoteFile,
    RemoteJob,
    RemoteJobError,
    TransientProviderError,
)
from training.providers.registry import (
    ModelInfo,
    ProviderConfig,
    ProviderNotConfigured,
    available_providers,
    get_config,
    get_local_backend,
    get_provider,
    provider_configs,
)

__all__ = [
    "TERMINAL_STATUSES",
    "Availability",
    "LocalBackend",
    "ModelInfo",
    "PermanentProviderError",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderNotConfigured",
    "RemoteCheckpoint",
    "RemoteEvent",
    "RemoteFile",
    "RemoteJob",
    "RemoteJobError",
    "TransientProviderError",
    "available_providers",
    "get_config",
    "get_local_backend",
    "get_provider",
    "provider_configs",
]
