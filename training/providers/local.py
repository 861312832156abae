"""The ``local`` provider: LoRA fine-tuning on the team's own GPUs.

A local fine-tune is not sent anywhere: the "training" worker hands it to a job on the
``training-gpu`` queue, and an RQ worker started with ``manage.py rqworker training-gpu`` on
a GPU machine trains it with ``training.local.engine`` (see ``training.services.local``).

This module is torch-free. The web process builds this provider to check a launch (is a GPU
worker alive? is the extra installed?), to clean the launch form's LoRA settings and to
cancel a queued job; only the GPU job imports the engine.

Provider entry options (besides ``models``, each ``{"token_limit": N, "price_per_million": 0}``
keyed by a Hugging Face id or a directory on the GPU workers):

``cache_dir``              Hugging Face cache folder on the GPU workers (None: HF's default)
``device``                 "cuda", "cuda:1", "cpu"… (None: CUDA when present)
``queue``                  the RQ queue of the GPU workers (default "training-gpu")
``work_dir``               where a run writes before the adapter goes to storage (None: tmp)
``samples``                validation prompts answered after training (default 5)
``sample_max_new_tokens``  length of those answers (default 128)
``check_extra``            refuse launches where the ``local-training`` extra is missing
                           (default True; turn off where the web runs on a machine of its own)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from training.local import LoraSettings, TrainSettings, is_available
from training.providers.base import (
    PermanentProviderError,
    Provider,
    RemoteCheckpoint,
    RemoteEvent,
    RemoteFile,
    RemoteJob,
    TransientProviderError,
)
from training.providers.registry import ProviderConfig

GPU_QUEUE = "training-gpu"
ALL_LINEAR = "all-linear"
DEFAULT_SAMPLES = 5
DEFAULT_SAMPLE_TOKENS = 128
_MODULE_NAME = re.compile(r"^[A-Za-z0-9_.]+$")

# The LoRA and training settings a local job stores in FineTuneJob.hyperparameters, next to
# the hosted n_epochs and batch_size (which mean the same here), with their page labels.
LOCAL_HYPERPARAMETERS: dict[str, str] = {
    "learning_rate": "Learning rate",
    "grad_accum": "Gradient accumulation steps",
    "max_seq_length": "Max sequence length",
    "packing": "Packing",
    "bf16": "bf16",
    "lora_rank": "LoRA rank",
    "lora_alpha": "LoRA alpha",
    "lora_dropout": "LoRA dropout",
    "lora_target_modules": "LoRA target modules",
    "eval_every": "Validate every (steps)",
    "save_every": "Checkpoint every (steps)",
    "max_steps": "Max steps",
    "merge_weights": "Merged weights",
    "gpus": "GPUs",
}
_TRAIN_KEYS = ("learning_rate", "grad_accum", "max_seq_length", "packing", "bf16")
_TRAIN_KEYS += ("eval_every", "save_every", "max_steps")
_INTEGERS = ("grad_accum", "max_seq_length", "lora_rank", "lora_alpha", "eval_every")
_INTEGERS += ("save_every", "max_steps", "gpus")
_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"false", "off", "0", "no", ""}


class LocalSettingError(ValueError):
    """A local setting is invalid; ``field`` names the hyperparameter key."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        super().__init__(message)


def settings_record(
    lora: LoraSettings, train: TrainSettings, *, bf16: bool | str, merge: bool
) -> dict[str, Any]:
    """The LOCAL_HYPERPARAMETERS of ``lora`` and ``train`` as a job stores them, in the
    order the job page lists them. ``bf16`` and ``merge`` are passed in because the
    defaults keep the setting ("auto") while a finished run records what it used."""
    target = lora.target_modules
    return {
        "learning_rate": train.learning_rate,
        "grad_accum": train.grad_accum,
        "max_seq_length": train.max_seq_length,
        "packing": train.packing,
        "bf16": bf16,
        "lora_rank": lora.rank,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "lora_target_modules": target if isinstance(target, str) else ",".join(target),
        "eval_every": train.eval_every,
        "save_every": train.save_every,
        "max_steps": train.max_steps,
        "merge_weights": merge,
    }


def local_defaults() -> dict[str, Any]:
    """Every local hyperparameter at the engine's default, as stored on a job; the GPUs
    one job uses (torchrun processes) default to ``CURATOR_LOCAL_GPUS``."""
    lora, train = LoraSettings(), TrainSettings()
    return {
        **settings_record(lora, train, bf16=train.bf16, merge=False),
        "gpus": int(getattr(settings, "CURATOR_LOCAL_GPUS", 1)),
    }


def _boolean(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise LocalSettingError(name, f"{LOCAL_HYPERPARAMETERS[name]}: expected on or off, got {raw!r}")


def _clean_value(name: str, raw: Any, default: Any) -> Any:
    label = LOCAL_HYPERPARAMETERS[name]
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if name in ("packing", "merge_weights"):
        return _boolean(name, raw)
    if name == "bf16":
        if isinstance(raw, str) and raw.strip().lower() == "auto":
            return "auto"
        return _boolean(name, raw)
    if name == "lora_target_modules":
        text = raw if isinstance(raw, str) else ",".join(str(item) for item in raw)
        names = [part.strip() for part in text.split(",") if part.strip()]
        if names == [ALL_LINEAR]:
            return ALL_LINEAR
        bad = [part for part in names if not _MODULE_NAME.match(part)]
        if not names or bad:
            raise LocalSettingError(
                name, f"{label}: '{ALL_LINEAR}' or module names separated by commas"
            )
        return ",".join(names)
    try:
        if name in _INTEGERS:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(raw.strip() if isinstance(raw, str) else raw)
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        kind = "a whole number" if name in _INTEGERS else "a number"
        raise LocalSettingError(name, f"{label}: expected {kind}, got {raw!r}") from None
    return value


# (minimum, maximum) of each number; None: unbounded on that side.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "learning_rate": (None, 1.0),
    "grad_accum": (1, 1024),
    "max_seq_length": (16, 1_048_576),
    "lora_rank": (1, 1024),
    "lora_alpha": (1, 4096),
    "lora_dropout": (0.0, None),
    "eval_every": (0, None),
    "save_every": (0, None),
    "max_steps": (1, None),
    "gpus": (1, 64),
}


def clean_local_hyperparameters(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The local settings of ``raw`` (form values, CLI strings or a stored dict), missing
    ones at their defaults, checked against the engine's own rules.

    Raises LocalSettingError naming the key at fault.
    """
    cleaned = {
        name: _clean_value(name, raw.get(name), default)
        for name, default in local_defaults().items()
    }
    if cleaned["max_steps"] == 0:
        cleaned["max_steps"] = None  # "0 steps" can only mean "no cap"
    for name, (low, high) in _RANGES.items():
        value = cleaned[name]
        if value is None:
            continue
        label = LOCAL_HYPERPARAMETERS[name]
        if low is not None and value < low:
            raise LocalSettingError(name, f"{label}: at least {low:g}")
        if high is not None and value > high:
            raise LocalSettingError(name, f"{label}: at most {high:g}")
    if cleaned["learning_rate"] <= 0:
        raise LocalSettingError(
            "learning_rate", "Learning rate: must be positive (2e-4 is typical)"
        )
    if cleaned["lora_dropout"] >= 1:
        raise LocalSettingError("lora_dropout", "LoRA dropout: below 1 (0.05 is typical)")
    try:
        # The engine's own checks, so nothing it would refuse gets queued.
        lora_settings(cleaned)
        train_settings(cleaned, seed=None)
    except ValueError as error:
        raise LocalSettingError(None, str(error)) from None
    return cleaned


def relaunch_values(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """A job's local settings as the launch form reads them from a query string."""
    values: dict[str, str] = {}
    for name in LOCAL_HYPERPARAMETERS:
        if name not in hyperparameters:
            continue
        value = hyperparameters[name]
        if isinstance(value, bool):
            # A checkbox is checked by any non-empty value; "bf16" is a choice of three.
            values[name] = (
                ("true" if value else "false") if name == "bf16" else ("on" if value else "")
            )
        else:
            values[name] = "" if value is None else str(value)
    return values


def lora_settings(hyperparameters: Mapping[str, Any]) -> LoraSettings:
    defaults = LoraSettings()
    target = hyperparameters.get("lora_target_modules") or ALL_LINEAR
    return LoraSettings(
        rank=int(hyperparameters.get("lora_rank", defaults.rank)),
        alpha=int(hyperparameters.get("lora_alpha", defaults.alpha)),
        dropout=float(hyperparameters.get("lora_dropout", defaults.dropout)),
        target_modules=target if target == ALL_LINEAR else target.split(","),
    )


def train_settings(hyperparameters: Mapping[str, Any], *, seed: int | None) -> TrainSettings:
    """The engine's settings for a job: n_epochs and batch_size "auto" take the engine's
    defaults, as does an empty seed."""
    defaults = TrainSettings()
    values = {key: hyperparameters[key] for key in _TRAIN_KEYS if key in hyperparameters}
    epochs = hyperparameters.get("n_epochs")
    batch_size = hyperparameters.get("batch_size")
    return TrainSettings(
        **values,
        epochs=epochs if isinstance(epochs, int) else defaults.epochs,
        batch_size=batch_size if isinstance(batch_size, int) else defaults.batch_size,
        seed=seed if seed is not None else defaults.seed,
    )


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


class LocalProvider(Provider):
    """LoRA training on GPU workers of this installation.

    The remote-API half of the Provider interface barely applies: nothing is uploaded (the
    GPU job reads the snapshot from storage and checks its sha256) and events, metrics and
    checkpoints are written straight into their tables by the GPU job. The "remote job" is
    the RQ job on the GPU queue; cancelling takes it off the queue if it has not started,
    and a running one stops at its next step when it sees the row cancelled.
    """

    def __init__(self, *, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self.label = config.label
        self.is_simulator = False

    # -- settings -------------------------------------------------------------------------
    def option(self, name: str, default: Any = None) -> Any:
        value = self.config.options.get(name)
        return default if value is None or value == "" else value

    @property
    def queue_name(self) -> str:
        return str(self.option("queue", GPU_QUEUE))

    @property
    def cache_dir(self) -> str | None:
        return self.option("cache_dir")

    @property
    def device(self) -> str | None:
        return self.option("device")

    @property
    def work_dir(self) -> str | None:
        return self.option("work_dir")

    @property
    def sample_count(self) -> int:
        return int(self.option("samples", DEFAULT_SAMPLES))

    @property
    def sample_max_new_tokens(self) -> int:
        return int(self.option("sample_max_new_tokens", DEFAULT_SAMPLE_TOKENS))

    # -- can it run? ----------------------------------------------------------------------
    def queue(self) -> Any:
        import django_rq

        return django_rq.get_queue(self.queue_name)

    def gpu_workers(self) -> list[str]:
        """Names of the RQ workers registered for the GPU queue.

        A worker's registration lives as long as its heartbeat key in Redis: one killed
        without a chance to unregister still counts until that key expires (minutes).
        """
        from rq import Worker

        return sorted(worker.name for worker in Worker.all(queue=self.queue()))

    def availability(self) -> Availability:
        """Why a local job could not run now (nothing imports torch here)."""
        from redis.exceptions import RedisError

        problems: list[str] = []
        if self.option("check_extra", True) and not is_available():
            problems.append(
                f"{self.label}: the local-training extra (torch, transformers, peft) is not "
                "installed here: pip install -e '.[local-training]'"
            )
        workers: list[str] = []
        try:
            workers = self.gpu_workers()
        except RedisError as error:
            problems.append(f"{self.label}: cannot look for GPU workers in Redis ({error})")
        else:
            if not workers:
                problems.append(
                    f"{self.label}: no worker is listening on the {self.queue_name} queue; "
                    f"start one on a GPU machine with `manage.py rqworker {self.queue_name}`"
                )
        return Availability(problems=tuple(problems), workers=tuple(workers))

    # -- the Provider interface -----------------------------------------------------------
    def _not_here(self, what: str) -> PermanentProviderError:
        return PermanentProviderError(
            f"{self.label} does not {what}: local jobs are handed to the {self.queue_name} queue",
            code="not_supported",
        )

    def upload_file(self, path: Any, *, purpose: str = "fine-tune") -> RemoteFile:
        raise self._not_here("upload files")

    def wait_for_file(
        self, file_id: str, *, timeout: float = 600.0, poll_interval: float = 2.0
    ) -> RemoteFile:
        raise self._not_here("process files")

    def create_job(self, **kwargs: Any) -> RemoteJob:  # type: ignore[override]
        raise self._not_here("create jobs through the API")

    def find_job_by_metadata(self, key: str, value: str) -> RemoteJob | None:
        from training.models import METADATA_TAG, FineTuneJob

        if key != METADATA_TAG:
            return None
        job = FineTuneJob.objects.filter(uid=value).exclude(remote_job_id="").first()
        return self._remote(job) if job is not None else None

    def get_job(self, job_id: str) -> RemoteJob:
        from training.models import FineTuneJob

        job = FineTuneJob.objects.filter(remote_job_id=job_id).first()
        if job is None:
            raise PermanentProviderError(f"no local job {job_id}", code="not_found")
        return self._remote(job)

    def list_events(self, job_id: str, *, after: str | None = None) -> list[RemoteEvent]:
        return []  # the GPU job writes FineTuneEvent rows itself

    def list_checkpoints(self, job_id: str) -> list[RemoteCheckpoint]:
        return []  # the GPU job writes FineTuneCheckpoint rows itself

    def result_metrics(self, job: RemoteJob) -> list[dict[str, Any]]:
        return []  # streamed into FineTuneMetric while training

    def cancel(self, job_id: str) -> RemoteJob:
        """Take the GPU job off its queue if it has not started. A running one is stopped
        by the row's status, which the caller sets: the trainer checks it between steps."""
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job as RQJob
        from rq.job import JobStatus as RQStatus

        from training.models import FineTuneJob

        try:
            rq_job = RQJob.fetch(job_id, connection=self.queue().connection)
            if rq_job.get_status() in (RQStatus.QUEUED, RQStatus.SCHEDULED, RQStatus.DEFERRED):
                rq_job.cancel()
        except NoSuchJobError:
            pass
        except RedisError as error:
            raise TransientProviderError(f"cannot reach Redis to cancel ({error})") from None
        job = FineTuneJob.objects.filter(remote_job_id=job_id).first()
        remote = self._remote(job) if job is not None else None
        return RemoteJob(
            id=job_id,
            status="cancelled",
            model=remote.model if remote else "",
            training_file=remote.training_file if remote else "",
            created_at=remote.created_at if remote else 0,
        )

    def _remote(self, job: Any) -> RemoteJob:
        status = job.remote_status or "queued"
        return RemoteJob(
            id=job.remote_job_id,
            status=status,
            model=job.base_model,
            training_file=job.version.file_info("train.jsonl")["name"]
            if job.version.file_info("train.jsonl")
            else "",
            created_at=int(job.created_at.timestamp()),
            fine_tuned_model=job.fine_tuned_model or None,
            trained_tokens=job.trained_tokens,
            hyperparameters=dict(job.resolved_hyperparameters or job.hyperparameters),
            seed=job.seed,
        )
