"""In-memory state of the OpenAI-compatible simulator: files, fine-tuning jobs, their events.

A job's whole life is planned when it is created (validation outcome, hyperparameters,
loss curve, checkpoints) as items at offsets in simulated seconds. Each time anyone looks
at a job, the items whose offset has passed on the clock (scaled by ``speed``) are
applied. Nothing runs in the background, so tests can drive time with a fake clock and
the same seed always gives the same curve.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from training.simulator.records import (
    TERMINAL_STATUSES,
    ApiError,
    PlanItem,
    SimJob,
    StoredFile,
    new_id,
)
from training.simulator.timeline import event, plan_job

Clock = Callable[[], float]
JobListener = Callable[[dict[str, Any]], None]

DEFAULT_ORG_SLUG = "curator-sim"

BASE_MODELS: frozenset[str] = frozenset(
    {
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
        "gpt-3.5-turbo-0125",
    }
)
MODEL_ALIASES: dict[str, str] = {
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}

# What the other API shapes accept for fine-tuning (the ids their own APIs use).
SHAPE_MODELS: dict[str, frozenset[str]] = {
    "together": frozenset(
        {
            "meta-llama/Llama-3.2-3B-Instruct",
            "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            "Qwen/Qwen2.5-7B-Instruct",
        }
    ),
    "fireworks": frozenset(
        {
            "accounts/fireworks/models/llama-v3p2-3b-instruct",
            "accounts/fireworks/models/llama-v3p1-8b-instruct",
            "accounts/fireworks/models/qwen2p5-7b-instruct",
        }
    ),
}

# Shapes that speak OpenAI's fine-tuning API, each its own account: jobs made on Azure's
# path are listed there and not on OpenAI's, as an Azure resource and an OpenAI
# organisation never see each other's jobs.
OPENAI_ACCOUNTS = frozenset({"openai", "azure"})

FILE_PURPOSES = frozenset({"fine-tune", "assistants", "batch", "vision", "user_data", "evals"})


def _validate_hyperparameters(raw: Any, *, param: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ApiError(400, f"'{param}' must be an object", param=param, code="invalid_type")
    limits: dict[str, tuple[type, float, float]] = {
        "n_epochs": (int, 1, 50),
        "batch_size": (int, 1, 256),
        "learning_rate_multiplier": (float, 1e-6, 10),
    }
    cleaned: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in limits:
            raise ApiError(
                400,
                f"Unknown hyperparameter {key!r}",
                param=f"{param}.{key}",
                code="unknown_parameter",
            )
        kind, low, high = limits[key]
        if value == "auto":
            cleaned[key] = value
            continue
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is int and not isinstance(value, int):
            numeric = False
        if not numeric or not low <= value <= high:
            raise ApiError(
                400,
                f"Invalid value for {key}: {value!r} (expected 'auto' or a number in "
                f"[{low:g}, {high:g}])",
                param=f"{param}.{key}",
                code="invalid_value",
            )
        cleaned[key] = value
    return cleaned


def _method_extra(body: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """What the job keeps of OpenAI's method block: its type and the DPO block as sent."""
    kept = dict(extra or {})
    method = body.get("method")
    if isinstance(method, dict) and method.get("type") == "dpo":
        kept["method_type"] = "dpo"
        kept["method"] = method
    return kept


def _validate_metadata(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ApiError(400, "'metadata' must be an object", param="metadata", code="invalid_type")
    if len(raw) > 16:
        raise ApiError(400, "metadata may have at most 16 keys", param="metadata")
    for key, value in raw.items():
        if not isinstance(value, str) or len(key) > 64 or len(value) > 512:
            raise ApiError(
                400,
                f"Invalid metadata entry {key!r}: keys are strings of up to 64 characters, "
                "values strings of up to 512",
                param=f"metadata.{key}",
                code="invalid_value",
            )
    return dict(raw)


class SimulatorState:
    """Everything the simulator knows; all access goes through one lock."""

    def __init__(
        self,
        *,
        speed: float = 1.0,
        clock: Clock = time.time,
        org_slug: str = DEFAULT_ORG_SLUG,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.clock = clock
        self.org_slug = org_slug
        self._lock = threading.RLock()
        self._files: dict[str, StoredFile] = {}
        self._jobs: dict[str, SimJob] = {}
        self._fine_tuned_models: dict[str, str] = {}
        self._listeners: list[JobListener] = []
        self.request_log: list[tuple[str, str]] = []
        # (API shape the request was addressed to, the key or token it carried): which
        # vendor's path each credential reached, for tests that keys stay home.
        self.credential_log: list[tuple[str, str]] = []
        # What the other shapes keep of their own (pending uploads, datasets), by shape.
        self.shape_data: dict[str, dict[str, Any]] = {}
        # Seconds each chat request waits (simulator/chat.py), set by the command line or a test.
        self.chat_latency = 0.0

    # -- inspection helpers for tests and the management command --------------------------

    @property
    def jobs(self) -> list[dict[str, Any]]:
        """Every job created so far, oldest first, as the API would show it now."""
        with self._lock:
            self.advance_all()
            return [job.to_api() for job in self._jobs.values()]

    def jobs_by_shape(self) -> dict[str, list[dict[str, Any]]]:
        """``GET /_simulator/jobs``: every job, oldest first, under the shape that made it,
        each as the OpenAI shape shows it (one format for tests to read)."""
        with self._lock:
            self.advance_all()
            listing: dict[str, list[dict[str, Any]]] = {
                "openai": [],
                "azure": [],
                "together": [],
                "fireworks": [],
            }
            for job in self._jobs.values():
                listing.setdefault(job.shape, []).append(job.to_api())
            return listing

    def sim_job(self, job_id: str, *, shape: str) -> SimJob:
        """The job (advanced to now) as another shape's adapter needs it; 404 if unknown
        or made through another shape."""
        with self._lock:
            job = self._job(job_id)
            if job.shape != shape:
                raise ApiError(404, f"Could not find fine-tuning job: {job_id}")
            return job

    def shape_jobs(self, shape: str) -> list[SimJob]:
        with self._lock:
            self.advance_all()
            return [job for job in self._jobs.values() if job.shape == shape]

    def base_of(self, model: str) -> str | None:
        """The base model a model fine-tuned here was trained from; None for any other."""
        with self._lock:
            return self._fine_tuned_models.get(model)

    @property
    def files(self) -> list[dict[str, Any]]:
        with self._lock:
            return [stored.to_api() for stored in self._files.values()]

    def add_listener(self, listener: JobListener) -> None:
        """Call ``listener(job)`` once when a job reaches a terminal status."""
        with self._lock:
            self._listeners.append(listener)

    def log_request(self, endpoint: str, outcome: str) -> None:
        with self._lock:
            self.request_log.append((endpoint, outcome))

    def log_credential(self, shape: str, credential: str) -> None:
        with self._lock:
            self.credential_log.append((shape, credential))

    # -- files -----------------------------------------------------------------------------

    def create_file(
        self, *, filename: str, purpose: str, data: bytes, file_id: str | None = None
    ) -> dict[str, Any]:
        if purpose not in FILE_PURPOSES:
            raise ApiError(
                400,
                f"Invalid purpose {purpose!r}. Expected one of {sorted(FILE_PURPOSES)}",
                param="purpose",
                code="invalid_value",
            )
        if purpose == "fine-tune" and not filename.endswith(".jsonl"):
            raise ApiError(
                400,
                f"Invalid file format for Fine-Tuning API. Must be .jsonl (got {filename!r})",
                param="file",
                code="invalid_file_format",
            )
        with self._lock:
            stored = StoredFile(
                id=file_id or new_id("file-", 22),
                filename=filename,
                purpose=purpose,
                data=data,
                created_at=int(self.clock()),
            )
            self._files[stored.id] = stored
            return stored.to_api()

    def stored_file(self, file_id: str) -> StoredFile:
        with self._lock:
            return self._file(file_id)

    def _file(self, file_id: str) -> StoredFile:
        stored = self._files.get(file_id)
        if stored is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return stored

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        with self._lock:
            return self._file(file_id).to_api()

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return self._file(file_id).data

    def delete_file(self, file_id: str) -> dict[str, Any]:
        with self._lock:
            self._file(file_id)
            del self._files[file_id]
            return {"object": "file", "id": file_id, "deleted": True}

    # -- jobs ------------------------------------------------------------------------------

    def _resolve_model(self, model: Any, shape: str = "openai") -> tuple[str, str]:
        """Return (model as the job shows it, base snapshot used in the new model's name)."""
        if not isinstance(model, str) or not model:
            raise ApiError(400, "Missing required parameter: 'model'.", param="model")
        if shape not in OPENAI_ACCOUNTS:
            if model in SHAPE_MODELS.get(shape, ()) or model in self._fine_tuned_models:
                return model, self._fine_tuned_models.get(model, model)
            raise ApiError(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        if model in BASE_MODELS:
            return model, model
        if model in MODEL_ALIASES:
            return MODEL_ALIASES[model], MODEL_ALIASES[model]
        if model in self._fine_tuned_models:
            return model, self._fine_tuned_models[model]
        raise ApiError(
            400,
            f"Model {model} is not available for fine-tuning or does not exist.",
            param="model",
            code="model_not_available",
        )

    def _fine_tune_file(self, file_id: Any, *, param: str) -> StoredFile:
        if not isinstance(file_id, str) or not file_id:
            raise ApiError(400, f"Missing required parameter: '{param}'.", param=param)
        stored = self._files.get(file_id)
        if stored is None:
            raise ApiError(
                400,
                f"invalid {param}: {file_id} (no such file)",
                param=param,
                code="invalid_file_id",
            )
        if stored.purpose != "fine-tune":
            raise ApiError(
                400,
                f"File {file_id} has purpose {stored.purpose!r}; fine-tuning needs 'fine-tune'",
                param=param,
                code="invalid_file_purpose",
            )
        return stored

    def create_job(
        self,
        body: dict[str, Any],
        *,
        shape: str = "openai",
        job_id: str | None = None,
        planned_model: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a job; the other shapes' adapters call this with their own id and
        model name, and get the job back in the OpenAI shape (they translate it)."""
        with self._lock:
            model, base_model = self._resolve_model(body.get("model"), shape)
            training = self._fine_tune_file(body.get("training_file"), param="training_file")
            validation = None
            if body.get("validation_file") is not None:
                validation = self._fine_tune_file(
                    body.get("validation_file"), param="validation_file"
                )
            requested = self._requested_hyperparameters(body)
            suffix = body.get("suffix")
            if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
                raise ApiError(
                    400, "suffix must be a string of at most 64 characters", param="suffix"
                )
            seed = body.get("seed")
            if seed is None:
                seed = secrets.randbelow(2**31)
            elif not isinstance(seed, int) or isinstance(seed, bool):
                raise ApiError(400, "seed must be an integer", param="seed", code="invalid_type")
            metadata = _validate_metadata(body.get("metadata"))

            job_id = job_id or new_id("ftjob-")
            if job_id in self._jobs:
                raise ApiError(409, f"Job {job_id} already exists", code="already_exists")
            name_suffix = re.sub(r"[^A-Za-z0-9_-]", "-", suffix) if suffix else ""
            job = SimJob(
                id=job_id,
                model=model,
                training_file=training.id,
                validation_file=validation.id if validation else None,
                suffix=suffix,
                seed=seed,
                metadata=metadata,
                requested_hyperparameters=requested,
                resolved_hyperparameters={},
                created_clock=self.clock(),
                speed=self.speed,
                planned_model=planned_model
                or f"ft:{base_model}:{self.org_slug}:{name_suffix}:{new_id('', 8)}",
                shape=shape,
                extra=_method_extra(body, extra),
                hyperparameters={
                    key: requested.get(key, "auto")
                    for key in ("n_epochs", "batch_size", "learning_rate_multiplier")
                },
            )
            self._appendevent(job, event(f"Created fine-tuning job: {job_id}"), offset=0)
            job.plan = plan_job(job, training=training, validation=validation)
            self._jobs[job_id] = job
            return job.to_api()

    def _requested_hyperparameters(self, body: dict[str, Any]) -> dict[str, Any]:
        top = _validate_hyperparameters(body.get("hyperparameters"), param="hyperparameters")
        method = body.get("method")
        if method is None:
            return top
        kind = method.get("type") if isinstance(method, dict) else method
        if kind not in ("supervised", "dpo"):
            raise ApiError(
                400,
                f"The simulator supports the 'supervised' and 'dpo' methods (got {kind!r})",
                param="method.type",
                code="unsupported_method",
            )
        block = method.get(kind) or {}
        raw = block.get("hyperparameters") if isinstance(block, dict) else None
        if kind == "dpo" and isinstance(raw, dict) and "beta" in raw:
            raw = dict(raw)
            beta = raw.pop("beta")
            if beta != "auto" and (
                not isinstance(beta, int | float) or isinstance(beta, bool) or not 0 < beta <= 2
            ):
                raise ApiError(
                    400,
                    f"Invalid value for beta: {beta!r} (expected 'auto' or a number in (0, 2])",
                    param="method.dpo.hyperparameters.beta",
                    code="invalid_value",
                )
        nested = _validate_hyperparameters(raw, param=f"method.{kind}.hyperparameters")
        if top and nested:
            raise ApiError(
                400,
                "Specify hyperparameters either at the top level or under method, not both",
                param="hyperparameters",
            )
        return nested or top

    def _appendevent(self, job: SimJob, event: dict[str, Any], *, offset: float) -> None:
        job.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": new_id("ftevent-"),
                "created_at": job.at(offset),
                **event,
            }
        )

    def _apply(self, job: SimJob, item: PlanItem) -> None:
        payload = item.payload
        if item.kind == "event":
            self._appendevent(job, payload, offset=item.offset)
        elif item.kind == "status":
            job.status = payload["status"]
            if "hyperparameters" in payload:
                job.hyperparameters = dict(payload["hyperparameters"])
            if "estimated_finish" in payload:
                job.estimated_finish = payload["estimated_finish"]
        elif item.kind == "checkpoint":
            job.checkpoints.append({**payload, "created_at": job.at(item.offset)})
        elif item.kind == "fail":
            job.status = "failed"
            job.error = dict(payload["error"])
            job.finished_at = job.at(item.offset)
            job.estimated_finish = None
        elif item.kind == "succeed":
            result = StoredFile(
                id=new_id("file-", 22),
                filename="step_metrics.csv",
                purpose="fine-tune-results",
                data=payload["result_csv"],
                created_at=job.at(item.offset),
            )
            self._files[result.id] = result
            job.result_files = [result.id]
            job.status = "succeeded"
            job.fine_tuned_model = job.planned_model
            job.trained_tokens = payload["trained_tokens"]
            job.finished_at = job.at(item.offset)
            job.estimated_finish = None
            self._fine_tuned_models[job.planned_model] = job.model
            if job.model in self._fine_tuned_models:
                # A model fine-tuned from a fine-tuned model keeps the original base name.
                self._fine_tuned_models[job.planned_model] = self._fine_tuned_models[job.model]

    def _advance(self, job: SimJob) -> None:
        # The epsilon keeps "advance the clock by exactly 5 s" from landing a hair short
        # of a 5 s milestone through float rounding.
        elapsed = (self.clock() - job.created_clock) * job.speed + 1e-6
        was_terminal = job.status in TERMINAL_STATUSES
        while job.applied < len(job.plan) and job.plan[job.applied].offset <= elapsed:
            self._apply(job, job.plan[job.applied])
            job.applied += 1
        if not was_terminal and job.status in TERMINAL_STATUSES:
            self._notify(job)

    def _notify(self, job: SimJob) -> None:
        snapshot = job.to_api()
        for listener in list(self._listeners):
            listener(snapshot)

    def advance_all(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                self._advance(job)

    def _job(self, job_id: str) -> SimJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(
                404,
                f"Could not find fine-tuning job: {job_id}",
                param="fine_tuning_job_id",
                code="fine_tuning_job_not_found",
            )
        self._advance(job)
        return job

    def retrieve_job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self._job(job_id).to_api()

    def list_jobs(
        self,
        *,
        metadata: dict[str, str] | None = None,
        null_metadata: bool = False,
        shape: str = "openai",
    ) -> list[dict[str, Any]]:
        """Jobs newest first, filtered the way ``metadata[key]=value`` filters them."""
        with self._lock:
            self.advance_all()
            found = []
            for job in reversed(list(self._jobs.values())):
                if job.shape != shape:
                    continue
                if null_metadata and job.metadata:
                    continue
                if metadata and any(
                    (job.metadata or {}).get(key) != value for key, value in metadata.items()
                ):
                    continue
                found.append(job.to_api())
            return found

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(job_id)
            if job.status in TERMINAL_STATUSES:
                raise ApiError(
                    400,
                    f"Job {job_id} is already {job.status} and cannot be cancelled",
                    param="fine_tuning_job_id",
                    code="invalid_job_state",
                )
            offset = (self.clock() - job.created_clock) * job.speed
            job.plan = job.plan[: job.applied]
            job.status = "cancelled"
            job.finished_at = job.at(offset)
            job.estimated_finish = None
            self._appendevent(job, event("Fine-tuning job cancelled"), offset=offset)
            self._notify(job)
            return job.to_api()

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        """Events newest first, as OpenAI lists them."""
        with self._lock:
            return [dict(event) for event in reversed(self._job(job_id).events)]

    def job_checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        """Checkpoints newest first, as OpenAI lists them."""
        with self._lock:
            return [dict(ckpt) for ckpt in reversed(self._job(job_id).checkpoints)]
