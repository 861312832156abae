"""Fine-tuning on Together AI through the official ``together`` SDK.

Together's jobs take no metadata, so the idempotency tag rides in the suffix (Together
puts it into the output model's name): before a create is retried, the job list is
searched for that suffix. The SDK's own retries are off; our jobs own retrying. Events
carry no ids on Together, so an event's id is its position in the job's event list (the
list only grows); per-step metrics come from the metrics endpoint as metrics events.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import together
from together.lib.resources.fine_tuning import create_finetune_request
from together.lib.utils.files import check_file

from training.providers.base import (
    METADATA_TAG,
    PermanentProviderError,
    RemoteCheckpoint,
    RemoteEvent,
    RemoteFile,
    RemoteJob,
    RemoteJobError,
    Serving,
)
from training.providers.registry import VALIDATION_PASSES
from training.providers.sdk import SdkProvider

DEFAULT_BASE_URL = "https://api.together.ai"
# Evaluations on the validation file during training (billed: registry.VALIDATION_PASSES).
N_EVALS = VALIDATION_PASSES["together"]
# Together's default when no epochs are given (the SDK's fine_tuning.create n_epochs=1).
DEFAULT_EPOCHS = 1
# Together's suffix limit; the tag takes 16 of it, the person's suffix the rest.
MAX_SUFFIX = 40
STATUS = {
    "pending": "validating_files",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "running",
    "completed": "succeeded",
    "error": "failed",
    "user_error": "failed",
    "cancelled": "cancelled",
}


def suffix_tag(uid: str) -> str:
    """The part of the suffix that identifies our row (Together suffixes are short)."""
    return "cur-" + re.sub(r"[^0-9a-f]", "", uid.lower())[:12]


def _epoch(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, str) and value:
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


class TogetherProvider(SdkProvider):
    sdk = together
    sdk_error = together.TogetherError

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "together",
        label: str = "Together AI",
        is_simulator: bool = False,
        timeout: float = 60.0,
        upload_timeout: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        allow_paid_deployments: bool = False,
    ) -> None:
        if not api_key:
            raise PermanentProviderError(f"{label}: no API key configured", code="missing_api_key")
        self.allow_paid_deployments = allow_paid_deployments
        self.name = name
        self.label = label
        self.is_simulator = is_simulator
        self.base_url = base_url or DEFAULT_BASE_URL
        self._sleep = sleep
        self.client = together.Together(
            api_key=api_key, base_url=self.base_url, max_retries=0, timeout=timeout
        )
        self.upload_client = self.client.with_options(timeout=upload_timeout)

    def ping(self) -> None:
        self._call(self.client.fine_tuning.list)

    # -- files -----------------------------------------------------------------------------

    def upload_file(self, path: str | Path, *, purpose: str = "fine-tune") -> RemoteFile:
        path = Path(path)
        # check=False: check_file ran the SDK's check on this very file just before.
        uploaded = self._call(
            lambda: self.upload_client.files.upload(path, purpose=purpose, check=False)
        )
        return self._file(uploaded)

    def _file(self, obj: Any) -> RemoteFile:
        status = (getattr(obj, "processing_status", None) or "COMPLETED").upper()
        return RemoteFile(
            id=obj.id,
            filename=obj.filename or "",
            bytes=int(obj.bytes or 0),
            purpose=str(obj.purpose or ""),
            status={"COMPLETED": "processed", "FAILED": "error", "INVALID_FORMAT": "error"}.get(
                status, "uploaded"
            ),
            created_at=int(obj.created_at or 0),
            status_details=getattr(getattr(obj, "validation_report", None), "error", None),
        )

    def check_file(self, path: Path) -> None:
        """The SDK's own file check (``together files check``), before anything is sent."""
        report = check_file(path, purpose="fine-tune")
        if not report.get("is_check_passed"):
            raise PermanentProviderError(
                f"{self.label} refuses {path.name}: {report.get('message') or report}",
                code="invalid_file",
            )

    def wait_for_file(
        self, file_id: str, *, timeout: float = 600.0, poll_interval: float = 2.0
    ) -> RemoteFile:

        def look() -> tuple[RemoteFile | None, str]:
            remote = self._file(self._call(lambda: self.client.files.retrieve(file_id)))
            if remote.status == "error":
                raise PermanentProviderError(
                    f"{self.label}: file {file_id} failed validation: "
                    f"{remote.status_details or 'no details given'}",
                    code="file_processing_failed",
                )
            ready = remote if remote.status == "processed" else None
            return ready, f"file {file_id} still being validated"

        return self._wait_until_ready(look, timeout=timeout, poll_interval=poll_interval)

    # -- jobs ------------------------------------------------------------------------------

    def _create_kwargs(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None,
        hyperparameters: dict[str, Any] | None,
        suffix: str | None,
        seed: int | None,
        metadata: dict[str, str] | None,
        method: str,
    ) -> dict[str, Any]:
        """The SDK's ``fine_tuning.create`` arguments for our settings: every setting we
        accept is sent under Together's name (the launch refuses the ones it has none for)."""
        chosen = dict(hyperparameters or {})
        tag = suffix_tag((metadata or {}).get(METADATA_TAG, "")) if metadata else ""
        full_suffix = "-".join(
            part for part in ((suffix or "")[: MAX_SUFFIX - len(tag) - 1], tag) if part
        )
        kwargs: dict[str, Any] = {
            "training_file": training_file,
            "model": model,
            "suffix": full_suffix or None,
            "lora": bool(chosen.get("lora", True)),
            "training_method": "dpo" if method == "dpo" else "sft",
        }
        if validation_file:
            kwargs["validation_file"] = validation_file
            kwargs["n_evals"] = N_EVALS
        if isinstance(chosen.get("n_epochs"), int):
            kwargs["n_epochs"] = chosen["n_epochs"]
        if isinstance(chosen.get("batch_size"), int):
            kwargs["batch_size"] = chosen["batch_size"]
        if isinstance(chosen.get("learning_rate"), float | int):
            kwargs["learning_rate"] = float(chosen["learning_rate"])
        if isinstance(chosen.get("lora_rank"), int):
            kwargs["lora_r"] = chosen["lora_rank"]
        if isinstance(chosen.get("lora_alpha"), int | float):
            kwargs["lora_alpha"] = chosen["lora_alpha"]
        if isinstance(chosen.get("max_seq_length"), int):
            kwargs["max_seq_length"] = chosen["max_seq_length"]
        if method == "dpo" and isinstance(chosen.get("dpo_beta"), float | int):
            kwargs["dpo_beta"] = float(chosen["dpo_beta"])
        if seed is not None:
            kwargs["random_seed"] = seed
        return kwargs

    def model_limits(self, model: str) -> Any:
        """Together's published limits for fine-tuning ``model`` (GET
        /v1/fine-tunes/models/limits): epochs, batch sizes per method, LoRA rank, sequence
        lengths, learning rates."""
        return self._call(lambda: self.client.fine_tuning.model_limits(model_name=model))

    def check_settings(
        self,
        *,
        model: str,
        hyperparameters: dict[str, Any] | None,
        method: str,
        validation: bool,
        seed: int | None = None,
    ) -> list[str]:
        """Every reason Together would refuse these settings for ``model``, in its words:
        its model limits, then the SDK's own client-side check (the ValueError that
        ``fine_tuning.create`` raises before sending anything)."""
        limits = self.model_limits(model)
        kwargs = self._create_kwargs(
            model=model,
            training_file="file-launch-check",
            validation_file="file-launch-check" if validation else None,
            hyperparameters=hyperparameters,
            suffix=None,
            seed=seed,
            metadata=None,
            method=method,
        )
        problems = []
        epochs = kwargs.get("n_epochs")
        if isinstance(epochs, int) and epochs > limits.max_num_epochs:
            problems.append(
                f"{self.label}: {model} trains for at most {limits.max_num_epochs} epochs "
                f"(asked {epochs})"
            )
        rank = kwargs.get("lora_r")
        if kwargs["lora"] and isinstance(rank, int) and rank > limits.lora_training.max_rank:
            problems.append(
                f"{self.label}: LoRA rank for {model} is at most "
                f"{limits.lora_training.max_rank} (asked {rank})"
            )
        rate = kwargs.get("learning_rate")
        if isinstance(rate, float) and not (
            limits.min_learning_rate <= rate <= limits.max_learning_rate
        ):
            problems.append(
                f"{self.label}: the learning rate for {model} must be between "
                f"{limits.min_learning_rate:g} and {limits.max_learning_rate:g} (asked {rate:g})"
            )
        if not kwargs["lora"] and not limits.supports_full_training:
            problems.append(f"{self.label}: {model} can only be fine-tuned with LoRA")
        else:
            try:
                create_finetune_request(model_limits=limits, **kwargs)
            except ValueError as error:
                problems.append(f"{self.label}: {error}")
        return problems

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
        kwargs = self._create_kwargs(
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            hyperparameters=hyperparameters,
            suffix=suffix,
            seed=seed,
            metadata=metadata,
            method=method,
        )
        try:
            created = self._call(lambda: self.client.fine_tuning.create(**kwargs))
        except ValueError as error:
            # The SDK checks the request against the model's limits before sending it:
            # a setting out of range, which no retry changes.
            raise PermanentProviderError(
                f"{self.label}: {error}", code="invalid_settings"
            ) from None
        return self._job(created)

    def find_job_by_metadata(self, key: str, value: str) -> RemoteJob | None:
        tag = suffix_tag(value)
        for job in self._call(self.client.fine_tuning.list).data:
            if (job.suffix or "").endswith(tag):
                return self._job(job)
        return None

    def get_job(self, job_id: str) -> RemoteJob:
        return self._job(self._call(lambda: self.client.fine_tuning.retrieve(job_id)))

    def _job(self, obj: Any) -> RemoteJob:
        status = STATUS.get(str(obj.status or "pending"), "running")
        output = getattr(obj, "x_model_output_name", None) or getattr(obj, "output_name", None)
        kind = getattr(obj, "training_type", None)
        hyperparameters: dict[str, Any] = {
            key: value
            for key, value in {
                "n_epochs": getattr(obj, "n_epochs", None),
                "batch_size": getattr(obj, "batch_size", None),
                "learning_rate": getattr(obj, "learning_rate", None),
                "lora": getattr(kind, "type", "Lora") != "Full" if kind is not None else None,
                "lora_rank": getattr(kind, "lora_r", None),
                "lora_alpha": getattr(kind, "lora_alpha", None),
            }.items()
            if value is not None
        }
        progress = getattr(obj, "progress", None)
        estimated_finish = None
        remaining = int(getattr(progress, "seconds_remaining", 0) or 0) if progress else 0
        if progress is not None and getattr(progress, "estimate_available", False) and remaining:
            estimated_finish = int(time.time()) + remaining
        error = None
        if status == "failed":
            error = RemoteJobError(code=str(obj.status), message=self._failure(obj.id))
        return RemoteJob(
            id=obj.id,
            status=status,
            model=obj.model or "",
            training_file=getattr(obj, "training_file", None) or "",
            created_at=_epoch(obj.created_at) or 0,
            validation_file=getattr(obj, "validation_file", None) or None,
            fine_tuned_model=output if status == "succeeded" else None,
            trained_tokens=getattr(obj, "token_count", None) if status == "succeeded" else None,
            finished_at=_epoch(obj.updated_at)
            if status in {"succeeded", "failed", "cancelled"}
            else None,
            estimated_finish=estimated_finish if status != "succeeded" else None,
            seed=getattr(obj, "random_seed", None),
            suffix=getattr(obj, "suffix", None),
            hyperparameters=hyperparameters,
            error=error,
        )

    def _failure(self, job_id: str) -> str:
        """Together says why a job failed in its last error event."""
        for event in reversed(self.list_events(job_id)):
            if event.level == "error" and event.message:
                return event.message
        return "the provider reports it failed"

    def list_events(self, job_id: str, *, after: str | None = None) -> list[RemoteEvent]:
        """Together's events (ids: their position in the list, which only grows), one per
        training step: a step's metrics ride on the event Together logged at that step, and
        only steps with no event of their own get a metrics event (id ``m<step>``)."""
        raw = self._call(lambda: self.client.fine_tuning.list_events(job_id)).data
        start = int(after) + 1 if after and after.isdigit() else 0
        rows = {row["step"]: row for row in self.metrics(job_id)} if raw else {}
        total = next((e.total_steps for e in reversed(raw) if e.total_steps), None)
        events = []
        for index, event in enumerate(raw):
            data: dict[str, Any] = {}
            kind = "message"
            if event.step is not None:
                data = {"step": event.step, "total_steps": event.total_steps}
                row = rows.pop(event.step, None)
                if row is not None:
                    data = {**row, "total_steps": event.total_steps or total}
                    kind = "metrics"
            if index < start:
                continue
            events.append(
                RemoteEvent(
                    id=str(index),
                    created_at=_epoch(event.created_at) or 0,
                    level="error" if event.level in {"error", "legacy_ierror"} else "info",
                    message=event.message or "",
                    type=kind,
                    data={k: v for k, v in data.items() if v is not None},
                )
            )
        last = _epoch(raw[-1].created_at) or 0 if raw else 0
        events.extend(
            RemoteEvent(
                id=f"m{step}",
                created_at=last,
                level="info",
                message=f"Step {step}: training loss={row['train_loss']:.4f}",
                type="metrics",
                data={**row, **({"total_steps": total} if total else {})},
            )
            for step, row in sorted(rows.items())
            if "train_loss" in row
        )
        return events

    def metrics(self, job_id: str) -> list[dict[str, Any]]:
        """Per-step metrics from GET /v1/fine-tunes/{id}/metrics. Together names them
        ``train/global_step``, ``train/loss`` and ``eval/loss`` (as the together 3.1.1 CLI
        reads them: lib/cli/components/plot_finetune_metrics.py); the unprefixed names are
        read too, for servers that report them so."""
        raw = self._call(lambda: self.client.fine_tuning.list_metrics(job_id)).metrics or []
        rows: dict[int, dict[str, Any]] = {}
        for item in raw:
            step = item.get("train/global_step", item.get("global_step"))
            if step is None:
                continue
            row = rows.setdefault(int(step), {"step": int(step)})
            train = item.get("train/loss", item.get("train_loss"))
            if train is not None:
                row["train_loss"] = train
            valid = item.get("eval/loss", item.get("eval_loss"))
            if valid is not None:
                row["valid_loss"] = valid
        return [rows[step] for step in sorted(rows)]

    def list_checkpoints(self, job_id: str) -> list[RemoteCheckpoint]:
        raw = self._call(lambda: self.client.fine_tuning.list_checkpoints(job_id)).data
        checkpoints = [
            RemoteCheckpoint(
                id=item.path,
                created_at=_epoch(item.created_at) or 0,
                step_number=int(item.step),
                fine_tuned_model_checkpoint=item.path,
            )
            for item in raw
        ]
        return sorted(checkpoints, key=lambda checkpoint: checkpoint.step_number)

    def cancel(self, job_id: str) -> RemoteJob:
        self._call(lambda: self.client.fine_tuning.cancel(job_id))
        return self.get_job(job_id)

    def result_metrics(self, job: RemoteJob) -> list[dict[str, Any]]:
        return self.metrics(job.id)

    def serving(self, job: RemoteJob) -> Serving:
        """A LoRA fine-tune of a base that Together serves serverless answers by its output
        name at once; any other (a full fine-tune, a LoRA on another base) answers only on a
        dedicated endpoint, which is billed per hour while it runs (docs.together.ai: LoRA
        inference; dedicated endpoints)."""
        model = job.fine_tuned_model or ""
        return self._answers(
            self.client.chat.completions,
            model,
            not_deployed=(
                f"Together does not serve {model} serverless: create a dedicated endpoint "
                f"for it (together endpoints create --model {model}), then check again; or "
                "let Curator start it (CURATOR_ALLOW_PAID_DEPLOYMENTS, billed by the hour)"
            ),
        )

    # Dedicated endpoints through Together's documented v1 REST API (docs.together.ai
    # reference: createendpoint, getendpoint, deleteendpoint, listhardware), sent by the SDK's
    # own client (its auth, base URL and errors). together 3.1.1's ``endpoints.create`` is the
    # newer per-project v2 API, which needs a project id that a plain API key does not name.

    def _endpoint_named(self, name: str) -> dict[str, Any] | None:
        listed = self._call(lambda: self.client.get("/v1/endpoints", cast_to=dict[str, Any]))
        for endpoint in (listed or {}).get("data") or []:
            if endpoint.get("display_name") == name and endpoint.get("state") != "STOPPED":
                return dict(endpoint)
        return None

    def _hardware_prices(self, model: str) -> dict[str, float | None]:
        """The hardware Together offers ``model`` a dedicated endpoint on, with its price per
        hour in dollars where it says (``pricing.cents_per_minute``)."""
        listed = self._call(
            lambda: self.client.get(
                "/v1/hardware", options={"params": {"model": model}}, cast_to=dict[str, Any]
            )
        )
        prices: dict[str, float | None] = {}
        for item in (listed or {}).get("data") or []:
            cents = (item.get("pricing") or {}).get("cents_per_minute")
            if item.get("id"):
                prices[str(item["id"])] = float(cents) * 60 / 100 if cents is not None else None
        return prices

    def _cheapest_hardware(self, model: str) -> tuple[str, float | None]:
        offers = self._hardware_prices(model)
        if not offers:
            raise PermanentProviderError(
                f"{self.label}: no hardware is offered for a dedicated endpoint of {model}",
                code="no_hardware",
            )
        hardware = min(offers, key=lambda name: offers[name] or 0.0)
        return hardware, offers[hardware]

    def deploy(self, job: RemoteJob, *, name: str) -> Serving:
        """Serverless where Together serves the model so; else, when Curator may start paid
        deployments, a dedicated endpoint of one replica on the cheapest hardware, found
        again by its display name ``name`` (so checking again never starts a second)."""
        model = job.fine_tuned_model or ""
        endpoint = self._endpoint_named(name) if self.allow_paid_deployments else None
        if endpoint is None:
            current = self.serving(job)
            if current.state == "answering" or not self.allow_paid_deployments:
                return current
            hardware, hourly = self._cheapest_hardware(model)
            endpoint = self._call(
                lambda: self.client.post(
                    "/v1/endpoints",
                    body={
                        "model": model,
                        "display_name": name,
                        "hardware": hardware,
                        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
                    },
                    cast_to=dict[str, Any],
                )
            )
            endpoint = dict(endpoint or {})
            endpoint["cost"] = hourly
        return self._endpoint_serving(endpoint)

    def _endpoint_serving(self, endpoint: dict[str, Any]) -> Serving:
        served = str(endpoint.get("name") or "")
        cost = endpoint.get("cost")
        if cost is None and endpoint.get("model") and endpoint.get("hardware"):
            cost = self._hardware_prices(str(endpoint["model"])).get(str(endpoint["hardware"]))
        billed = f", ${cost:.2f}/hour" if cost else ""
        where = (
            f"dedicated endpoint {endpoint.get('id')} on {endpoint.get('hardware')}{billed}, "
            "billed while it runs"
        )
        if endpoint.get("state") != "STARTED":
            return Serving(
                model=served,
                state="deploying",
                detail=f"{where}: {str(endpoint.get('state') or 'PENDING').lower()}",
                deployment=str(endpoint.get("id") or ""),
            )
        answered = self._answers(
            self.client.chat.completions, served, not_deployed=f"{where} does not answer yet"
        )
        return Serving(
            model=served,
            state=answered.state,
            detail=f"{answered.detail}; {where}",
            deployment=str(endpoint.get("id") or ""),
        )

    def undeploy(self, serving: Serving) -> None:
        """Delete the dedicated endpoint Curator started (one already gone is fine)."""
        if not serving.deployment:
            return
        try:
            self._call(
                lambda: self.client.delete(f"/v1/endpoints/{serving.deployment}", cast_to=object)
            )
        except PermanentProviderError as error:
            if error.status_code != 404:
                raise

    def download_adapter(self, job: RemoteJob, folder: Path) -> Path | None:
        """What Together trained, as it serves it (a ``.tar.zst``): the LoRA adapter, or for
        a full fine-tune the full model (``checkpoint="model_output_path"``; "adapter" only
        exists for LoRA jobs)."""
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint: Literal["model_output_path", "adapter"] = (
            "model_output_path" if job.hyperparameters.get("lora") is False else "adapter"
        )
        with self._translated():
            response = self.upload_client.fine_tuning.content(ft_id=job.id, checkpoint=checkpoint)
            disposition = response.headers.get("content-disposition", "")
            match = re.search(r'filename="?([^";]+)"?', disposition)
            name = Path(match.group(1)).name if match else f"{job.id}-adapter.tar.zst"
            target = folder / name
            with target.open("wb") as sink:
                for chunk in response.iter_bytes(1024 * 1024):
                    sink.write(chunk)
        return target
