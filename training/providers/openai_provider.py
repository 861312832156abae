"""Fine-tuning through the official ``openai`` SDK, against OpenAI or any compatible URL.

Errors and retries have the shape every hosted provider shares (``training.providers.sdk``).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any, cast

import httpx
import openai
from openai.types import FilePurpose

from training.providers.base import (
    PermanentProviderError,
    RemoteCheckpoint,
    RemoteEvent,
    RemoteFile,
    RemoteJob,
    RemoteJobError,
    Serving,
    TransientProviderError,
)
from training.providers.registry import AZURE_MANAGEMENT_URL
from training.providers.sdk import SdkProvider

OPENAI_HYPERPARAMETERS = frozenset({"n_epochs", "batch_size", "learning_rate_multiplier"})

# Bounds on how far find_job_by_metadata and list_events page back, so a server that
# ignores the metadata filter cannot turn one lookup into an unbounded scan.
# The Azure control plane (Microsoft.CognitiveServices deployments); the api-version of its
# REST reference for Deployments - Create Or Update.
AZURE_MANAGEMENT_VERSION = "2024-10-01"
MAX_SCANNED_JOBS = 2000
MAX_SCANNED_EVENTS = 20000
PAGE_SIZE = 100


def _plain(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "model_dump"):
        return {k: v for k, v in value.model_dump().items() if v is not None}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return {}


def to_remote_file(obj: Any) -> RemoteFile:
    return RemoteFile(
        id=obj.id,
        filename=getattr(obj, "filename", "") or "",
        bytes=int(getattr(obj, "bytes", 0) or 0),
        purpose=getattr(obj, "purpose", "") or "",
        # Compatible servers that omit the deprecated status field have finished
        # processing by the time they answer.
        status=getattr(obj, "status", None) or "processed",
        created_at=int(getattr(obj, "created_at", 0) or 0),
        status_details=getattr(obj, "status_details", None),
    )


# Azure OpenAI's job states that OpenAI names otherwise: a created job that has not started is
# "pending" there (azure-rest-api-specs, AzureOpenAI authoring 2024-10-21, examples/
# post_finetuning_job.json), "queued" at OpenAI.
AZURE_STATUSES = {"pending": "queued"}


def to_remote_job(obj: Any) -> RemoteJob:
    hyperparameters = _plain(getattr(obj, "hyperparameters", None))
    method = getattr(obj, "method", None)
    # The method block is authoritative; the top-level field is deprecated upstream and null
    # for DPO jobs (openai-openapi, POST /fine_tuning/jobs, the "DPO" example reply).
    block = None
    if method is not None:
        block = getattr(method, "supervised", None) or getattr(method, "dpo", None)
    if block is not None:
        hyperparameters = _plain(getattr(block, "hyperparameters", None)) or hyperparameters
    error = getattr(obj, "error", None)
    remote_error = None
    if error is not None and (getattr(error, "code", None) or getattr(error, "message", None)):
        remote_error = RemoteJobError(
            code=getattr(error, "code", None) or "unknown_error",
            message=getattr(error, "message", None) or "",
            param=getattr(error, "param", None),
        )
    return RemoteJob(
        id=obj.id,
        status=AZURE_STATUSES.get(obj.status, obj.status),
        model=getattr(obj, "model", "") or "",
        training_file=getattr(obj, "training_file", "") or "",
        created_at=int(getattr(obj, "created_at", 0) or 0),
        validation_file=getattr(obj, "validation_file", None),
        fine_tuned_model=getattr(obj, "fine_tuned_model", None),
        trained_tokens=getattr(obj, "trained_tokens", None),
        finished_at=getattr(obj, "finished_at", None),
        estimated_finish=getattr(obj, "estimated_finish", None),
        seed=getattr(obj, "seed", None),
        suffix=getattr(obj, "user_provided_suffix", None),
        hyperparameters=hyperparameters,
        metadata=dict(getattr(obj, "metadata", None) or {}),
        result_files=tuple(getattr(obj, "result_files", None) or ()),
        error=remote_error,
    )


def to_remote_event(obj: Any) -> RemoteEvent:
    data = getattr(obj, "data", None)
    return RemoteEvent(
        id=obj.id,
        created_at=int(getattr(obj, "created_at", 0) or 0),
        level=getattr(obj, "level", None) or "info",
        message=getattr(obj, "message", None) or "",
        type=getattr(obj, "type", None) or "message",
        data=dict(data) if isinstance(data, dict) else {},
    )


def to_remote_checkpoint(obj: Any) -> RemoteCheckpoint:
    return RemoteCheckpoint(
        id=obj.id,
        created_at=int(getattr(obj, "created_at", 0) or 0),
        step_number=int(getattr(obj, "step_number", 0) or 0),
        fine_tuned_model_checkpoint=getattr(obj, "fine_tuned_model_checkpoint", "") or "",
        metrics=_plain(getattr(obj, "metrics", None)),
    )


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def decode_result_file(raw: bytes) -> str:
    """Result files come base64-encoded from OpenAI and as plain CSV from some servers."""
    stripped = raw.strip()
    if stripped.startswith(b"step"):
        return stripped.decode("utf-8")
    try:
        decoded = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return stripped.decode("utf-8", "replace")
    return decoded.decode("utf-8", "replace")


def parse_result_csv(text: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for record in csv.DictReader(io.StringIO(text)):
        row = {
            key.strip(): _number(value.strip())
            for key, value in record.items()
            if key and value is not None and value.strip() != ""
        }
        if "step" in row:
            row["step"] = int(row["step"])
            rows.append(row)
    rows.sort(key=lambda row: row["step"])
    return rows


class OpenAIProvider(SdkProvider):
    """A provider speaking the OpenAI fine-tuning API through the official SDK."""

    sdk = openai
    sdk_error = openai.OpenAIError

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "openai",
        label: str = "OpenAI",
        is_simulator: bool = False,
        timeout: float = 60.0,
        upload_timeout: float = 600.0,
        client: openai.OpenAI | None = None,
        sleep: Callable[[float], None] = time.sleep,
        azure: bool = False,
        azure_control: dict[str, str] | None = None,
    ) -> None:
        if not api_key and client is None:
            raise PermanentProviderError(f"{label}: no API key configured", code="missing_api_key")
        self.name = name
        self.label = label
        self.is_simulator = is_simulator
        self.upload_timeout = upload_timeout
        self._sleep = sleep
        self.base_url = base_url or "https://api.openai.com/v1"
        self.azure = azure
        # subscription, resource_group, resource, token: the Azure control plane, where a
        # fine-tuned model becomes a deployment. Without them the page says what to create.
        self.azure_control = azure_control or {}
        self.upload_timeout = upload_timeout
        # Azure OpenAI's v1 API is OpenAI's API at https://RESOURCE.openai.azure.com/openai/v1
        # with the key in an api-key header; the bearer header is then left empty.
        headers = {"api-key": api_key} if azure else None
        self.client = client or openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            default_headers=headers,
        )

    def ping(self) -> None:
        with self._translated():
            self.client.fine_tuning.jobs.list(limit=1)

    # -- serving ---------------------------------------------------------------------------

    @staticmethod
    def deployment_name(job: RemoteJob) -> str:
        """The Azure deployment a job's model is served under: derived from the job, so a
        deployment made by hand and one Curator makes have the same name."""
        bare = re.sub(r"[^A-Za-z0-9-]+", "-", job.id.removeprefix("ftjob-")).strip("-")
        return f"curator-{bare}"[:64]

    def serving(self, job: RemoteJob) -> Serving:
        model = job.fine_tuned_model or ""
        if not self.azure:
            # OpenAI serves every fine-tune by its name as soon as it exists.
            return self._answers(
                self.client.chat.completions,
                model,
                not_deployed=f"{self.label} does not serve {model}",
            )
        name = self.deployment_name(job)
        return self._answers(
            self.client.chat.completions,
            name,
            not_deployed=(
                f"create the deployment {name!r} of the fine-tuned model {model} in the "
                f"Azure OpenAI resource at {self.base_url} (Azure AI Foundry: Deployments, "
                "Deploy fine-tuned model; or az cognitiveservices account deployment create "
                f"--deployment-name {name} --model-name {model} --model-version 1 "
                "--model-format OpenAI --sku-name standard --sku-capacity 1), then check again"
            ),
        )

    def _management_url(self, name: str) -> str:
        control = self.azure_control
        return (
            f"{control.get('management_url') or AZURE_MANAGEMENT_URL}/subscriptions/{control['subscription']}/resourceGroups/"
            f"{control['resource_group']}/providers/Microsoft.CognitiveServices/accounts/"
            f"{control['resource']}/deployments/{name}?api-version={AZURE_MANAGEMENT_VERSION}"
        )

    def deploy(self, job: RemoteJob, *, name: str) -> Serving:
        """Azure: PUT the deployment through the control plane (learn.microsoft.com, "Deploy
        a fine-tuned model", REST: Deployments - Create Or Update) when Curator has those
        rights; it is billed per hour while it exists. Elsewhere as ``serving``."""
        if not self.azure or not self.azure_control:
            return self.serving(job)
        name = self.deployment_name(job)
        body = {
            "sku": {"name": "standard", "capacity": 1},
            "properties": {
                "model": {"format": "OpenAI", "name": job.fine_tuned_model, "version": "1"}
            },
        }
        # An existing deployment is only looked at: checking again while it comes up must not
        # PUT it anew (an update restarts its provisioning).
        reply = self._existing_deployment(name) or self._management("PUT", name, body)
        state = str((reply.get("properties") or {}).get("provisioningState") or "")
        if state != "Succeeded":
            return Serving(
                model=name,
                state="deploying",
                detail=f"Azure deployment {name!r} is {state or 'being created'}",
                deployment=name,
            )
        answered = self.serving(job)
        return Serving(model=name, state=answered.state, detail=answered.detail, deployment=name)

    def _existing_deployment(self, name: str) -> dict[str, Any] | None:
        try:
            found = self._management("GET", name, None)
        except PermanentProviderError as error:
            if error.status_code == 404:
                return None
            raise
        return found or None

    def undeploy(self, serving: Serving) -> None:
        if self.azure and self.azure_control and serving.deployment:
            self._management("DELETE", serving.deployment, None)

    def _management(self, method: str, name: str, body: Any) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=60.0) as http:
                reply = http.request(
                    method,
                    self._management_url(name),
                    json=body,
                    headers={"Authorization": f"Bearer {self.azure_control['token']}"},
                )
        except httpx.HTTPError as error:
            raise TransientProviderError(
                f"{self.label}: the Azure control plane could not be reached ({error})",
                code="connection_error",
            ) from None
        if reply.status_code >= 500 or reply.status_code == 429:
            raise TransientProviderError(
                f"{self.label}: the Azure control plane answered HTTP {reply.status_code}",
                code="server_error",
                status_code=reply.status_code,
            )
        if reply.status_code >= 400:
            raise PermanentProviderError(
                f"{self.label}: the Azure control plane refused {method} of deployment "
                f"{name!r}: {reply.text[:300]} (HTTP {reply.status_code})",
                code="azure_deployment_refused",
                status_code=reply.status_code,
            )
        return reply.json() if reply.content else {}

    def upload_file(self, path: str | Path, *, purpose: str = "fine-tune") -> RemoteFile:
        path = Path(path)
        with path.open("rb") as handle:
            created = self._call(
                lambda: self.client.files.create(
                    file=(path.name, handle),
                    # Sent as given (the runner's "fine-tune"); OpenAI refuses a purpose it lacks.
                    purpose=cast(FilePurpose, purpose),
                    timeout=self.upload_timeout,
                )
            )
        return to_remote_file(created)

    def wait_for_file(
        self, file_id: str, *, timeout: float = 600.0, poll_interval: float = 2.0
    ) -> RemoteFile:

        def look() -> tuple[RemoteFile | None, str]:
            remote = to_remote_file(self._call(lambda: self.client.files.retrieve(file_id)))
            if remote.status == "error":
                raise PermanentProviderError(
                    f"{self.label}: file {file_id} failed processing: "
                    f"{remote.status_details or 'no details given'}",
                    code="file_processing_failed",
                )
            ready = remote if remote.status == "processed" else None
            return ready, f"file {file_id} still {remote.status}"

        return self._wait_until_ready(look, timeout=timeout, poll_interval=poll_interval)

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
        if method not in ("supervised", "dpo"):
            raise PermanentProviderError(
                f"{self.label}: only supervised and DPO fine-tuning are offered here",
                code="unsupported_method",
            )
        kwargs: dict[str, Any] = {"model": model, "training_file": training_file}
        if validation_file:
            kwargs["validation_file"] = validation_file
        # The LoRA settings other providers take mean nothing to OpenAI's API.
        given = hyperparameters or {}
        chosen = {k: v for k, v in given.items() if k in OPENAI_HYPERPARAMETERS}
        if method == "dpo":
            # Preference files need the method block: it is what says the lines are pairs.
            if isinstance(given.get("dpo_beta"), int | float):
                chosen["beta"] = float(given["dpo_beta"])
            kwargs["method"] = {"type": "dpo", "dpo": {"hyperparameters": chosen}}
        elif chosen:
            kwargs["method"] = {"type": "supervised", "supervised": {"hyperparameters": chosen}}
        if suffix:
            kwargs["suffix"] = suffix
        if seed is not None:
            kwargs["seed"] = seed
        if metadata:
            kwargs["metadata"] = dict(metadata)
        return to_remote_job(self._call(lambda: self.client.fine_tuning.jobs.create(**kwargs)))

    def find_job_by_metadata(self, key: str, value: str) -> RemoteJob | None:
        with self._translated():
            pages = self.client.fine_tuning.jobs.list(metadata={key: value}, limit=PAGE_SIZE)
            # Check the tag here too: a compatible server may ignore the filter.
            for job in islice(pages, MAX_SCANNED_JOBS):
                if (getattr(job, "metadata", None) or {}).get(key) == value:
                    return to_remote_job(job)
        return None

    def get_job(self, job_id: str) -> RemoteJob:
        return to_remote_job(self._call(lambda: self.client.fine_tuning.jobs.retrieve(job_id)))

    def list_events(self, job_id: str, *, after: str | None = None) -> list[RemoteEvent]:
        # The API lists newest first and its cursor walks back in time, so "what is new
        # since event X" means reading from the top until X shows up.
        events: list[RemoteEvent] = []
        with self._translated():
            pages = self.client.fine_tuning.jobs.list_events(job_id, limit=PAGE_SIZE)
            for event in islice(pages, MAX_SCANNED_EVENTS):
                if after is not None and event.id == after:
                    break
                events.append(to_remote_event(event))
        events.reverse()
        # OpenAI lists newest first; Azure's published example (get_finetuning_job_events.json)
        # lists oldest first. Shown in the order they happened either way (stable for ties).
        events.sort(key=lambda event: event.created_at)
        return events

    def list_checkpoints(self, job_id: str) -> list[RemoteCheckpoint]:
        with self._translated():
            pages = self.client.fine_tuning.jobs.checkpoints.list(job_id, limit=PAGE_SIZE)
            checkpoints = [to_remote_checkpoint(item) for item in pages]
        checkpoints.sort(key=lambda checkpoint: checkpoint.step_number)
        return checkpoints

    def cancel(self, job_id: str) -> RemoteJob:
        return to_remote_job(self._call(lambda: self.client.fine_tuning.jobs.cancel(job_id)))

    def result_metrics(self, job: RemoteJob) -> list[dict[str, Any]]:
        if job.result_files:
            raw = self._call(lambda: self.client.files.content(job.result_files[0]).content)
            rows = parse_result_csv(decode_result_file(raw))
            if rows:
                return rows
        # Servers without result files still report metrics events along the way.
        by_step: dict[int, dict[str, Any]] = {}
        for event in self.list_events(job.id):
            metrics = event.metrics
            if metrics and "step" in metrics:
                by_step[int(metrics["step"])] = {**metrics, "step": int(metrics["step"])}
        return [by_step[step] for step in sorted(by_step)]
