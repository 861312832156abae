"""The one interface every fine-tuning backend implements, and the plain results it returns.

Nothing here knows about Django models: the training jobs translate between these
dataclasses and FineTuneJob rows, and decide what to retry from the error class alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
# The metadata key that tags a remote job with our row, so a create whose reply was lost
# can be found again instead of being sent twice (DESIGN.md invariant 4). Providers without
# metadata carry its value in a suffix or a job id of their choosing.
METADATA_TAG = "curator_job_uid"


class ProviderError(Exception):
    """A call to a provider failed; ``str(exc)`` is a one-line reason fit for a person."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code
        self.param = param


class TransientProviderError(ProviderError):
    """Worth retrying later: 5xx, timeouts, dropped connections, ordinary rate limits.

    A timeout on a call that creates something may still have created it; callers that
    must not duplicate (job creation) look the object up before retrying.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code, param=param)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """Retrying will not help until a person changes something (key, model, file, quota)."""

    code: str

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code, param=param)


@dataclass(frozen=True)
class RemoteFile:
    id: str
    filename: str
    bytes: int
    purpose: str
    status: str  # "uploaded", "processed" or "error"
    created_at: int
    status_details: str | None = None


@dataclass(frozen=True)
class RemoteJobError:
    code: str
    message: str
    param: str | None = None


@dataclass(frozen=True)
class RemoteJob:
    id: str
    status: str  # validating_files, queued, running, succeeded, failed, cancelled
    model: str
    training_file: str
    created_at: int
    validation_file: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    finished_at: int | None = None
    estimated_finish: int | None = None
    seed: int | None = None
    suffix: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    result_files: tuple[str, ...] = ()
    error: RemoteJobError | None = None
    # Where the trained model can be called, for providers that say (Fireworks).
    deployment: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class RemoteEvent:
    id: str
    created_at: int
    level: str  # "info", "warn" or "error"
    message: str
    type: str = "message"  # "message" or "metrics"
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, Any] | None:
        """The step metrics a metrics event carries, else None."""
        if self.type == "metrics" and self.data:
            return dict(self.data)
        return None


@dataclass(frozen=True)
class RemoteCheckpoint:
    id: str
    created_at: int
    step_number: int
    fine_tuned_model_checkpoint: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Serving:
    """Where a trained model answers chat, as far as the provider says: ``model`` is the name
    chat requests use, ``state`` one of "answering", "deploying", "not_deployed", and
    ``detail`` the provider's words or exactly what a person must create by hand."""

    model: str
    state: str
    detail: str = ""
    deployment: str = ""  # the provider's resource Curator created, if any


class Provider(ABC):
    """A fine-tuning backend: OpenAI, an OpenAI-compatible service, the simulator, local LoRA.

    Every method raises :class:`TransientProviderError` or :class:`PermanentProviderError`
    and nothing else for failures of the remote side, so callers never import an SDK.
    """

    name: str = ""
    label: str = ""
    is_simulator: bool = False

    @abstractmethod
    def upload_file(self, path: str | Path, *, purpose: str = "fine-tune") -> RemoteFile:
        """Upload a local file; the result may still be processing (see wait_for_file)."""

    @abstractmethod
    def wait_for_file(
        self, file_id: str, *, timeout: float = 600.0, poll_interval: float = 2.0
    ) -> RemoteFile:
        """Poll until the file is processed; PermanentProviderError if processing failed."""

    @abstractmethod
    def create_job(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        hyperparameters: dict[str, Any] | None = None,
        suffix: str | None = None,
        seed: int | None = None,
        metadata: dict[str, str] | None = None,
        method: str = "supervised",
    ) -> RemoteJob:
        """Start a fine-tune (``method`` "supervised" or "dpo"). Put an idempotency tag in
        ``metadata`` so a create whose reply was lost can be found with
        find_job_by_metadata (providers without metadata carry the tag in the suffix or
        the job id they choose)."""

    @abstractmethod
    def find_job_by_metadata(self, key: str, value: str) -> RemoteJob | None:
        """The newest job whose metadata has ``key`` = ``value``, or None."""

    @abstractmethod
    def get_job(self, job_id: str) -> RemoteJob: ...

    @abstractmethod
    def list_events(self, job_id: str, *, after: str | None = None) -> list[RemoteEvent]:
        """Events oldest first; with ``after``, only those newer than that event id."""

    @abstractmethod
    def list_checkpoints(self, job_id: str) -> list[RemoteCheckpoint]:
        """Checkpoints by ascending step."""

    @abstractmethod
    def cancel(self, job_id: str) -> RemoteJob: ...

    @abstractmethod
    def result_metrics(self, job: RemoteJob) -> list[dict[str, Any]]:
        """Per-step metrics of a finished job (``step``, ``train_loss``, …), by step."""

    def ping(self) -> None:
        """Reach the provider with a cheap authenticated call; raises ProviderError (whose
        message names the URL) if it cannot be reached or refuses the key. Providers
        with nothing remote to reach (local training) have nothing to check here."""
        return None

    def serving(self, job: RemoteJob) -> Serving:
        """Whether the job's model answers chat now (one short request), and if not, what
        it takes; providers that serve every fine-tune as it is only check it answers."""
        return Serving(model=job.fine_tuned_model or "", state="not_deployed")

    def deploy(self, job: RemoteJob, *, name: str) -> Serving:
        """Deploy the job's model where the provider requires it (``name`` for the
        deployment it creates); where Curator may not, ``detail`` says what to create by
        hand. Then as ``serving``."""
        return self.serving(job)

    def undeploy(self, serving: Serving) -> None:
        """Remove a deployment Curator created (nothing where it created none)."""
        return None

    def check_settings(
        self,
        *,
        model: str,
        hyperparameters: dict[str, Any] | None,
        method: str,
        validation: bool,
        seed: int | None = None,
    ) -> list[str]:
        """Every reason the provider would refuse these settings for ``model``, in its own
        words, found before anything is created (its published model limits, its SDK's own
        request checks); empty where it publishes none."""
        return []

    def check_file(self, path: Path) -> None:
        """Run the provider's own client-side check of a file about to be uploaded, where its
        SDK ships one; PermanentProviderError carries its words."""
        return None

    def download_adapter(self, job: RemoteJob, folder: Path) -> Path | None:
        """Download the trained adapter into ``folder``; the archive's path, or None where
        the provider does not hand adapters out."""
        return None


@dataclass(frozen=True)
class Availability:
    """Whether local jobs can run now, and if not, every reason why."""

    problems: tuple[str, ...]
    workers: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


@runtime_checkable
class LocalBackend(Protocol):
    """What a provider of kind "local" is: GPU workers of this installation, reached through
    an RQ queue, not a fine-tuning API. Nothing is uploaded (the GPU job reads the version
    from storage) and the GPU job writes events, metrics and checkpoints itself, so the
    :class:`Provider` interface does not apply; the local flow
    (``training.services.local``) uses this one.
    """

    name: str
    label: str

    @property
    def queue_name(self) -> str: ...

    @property
    def cache_dir(self) -> str | None: ...

    @property
    def device(self) -> str | None: ...

    @property
    def work_dir(self) -> str | None: ...

    @property
    def sample_count(self) -> int: ...

    @property
    def sample_max_new_tokens(self) -> int: ...

    def queue(self) -> Any: ...

    def gpu_workers(self) -> list[str]: ...

    def availability(self) -> Availability: ...

    def cancel(self, job_id: str) -> None: ...
