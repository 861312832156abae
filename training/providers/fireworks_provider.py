"""Fine-tuning on Fireworks AI through the official ``fireworks-ai`` SDK.

Fireworks lets the client name what it creates, which is how this provider stays
idempotent: a dataset's id is derived from the file's name and content, a job's id from
our row's tag. A create whose reply was lost is found by that id (or answered 409
ALREADY_EXISTS), never made twice. Supervised jobs go to ``supervisedFineTuningJobs``,
preference (DPO) jobs to ``dpoJobs``. Per-step metrics come from the job's metrics file;
the trained model lives at ``accounts/{account}/models/{id}`` and is served from the
inference API once deployed, which the job page shows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tarfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import fireworks
import httpx
from fireworks.types import DpoJob, SupervisedFineTuningJob

from training.providers.base import (
    METADATA_TAG,
    PermanentProviderError,
    RemoteCheckpoint,
    RemoteEvent,
    RemoteFile,
    RemoteJob,
    RemoteJobError,
    Serving,
    TransientProviderError,
)
from training.providers.sdk import SdkProvider
from training.providers.signed_upload import put_signed

DEFAULT_BASE_URL = "https://api.fireworks.ai"
# ``datasets.upload`` takes at most 150 MB (fireworks-ai 1.2.30 docstring: "This path can
# handle file sizes up to 150Mb. For larger file sizes use Get Dataset Upload Endpoint").
DIRECT_UPLOAD_BYTES = 150 * 1024**2
STATES = {
    "JOB_STATE_VALIDATING": "validating_files",
    "JOB_STATE_CREATING": "validating_files",
    "JOB_STATE_CREATING_INPUT_DATASET": "validating_files",
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_RE_QUEUEING": "queued",
    "JOB_STATE_IDLE": "queued",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_WRITING_RESULTS": "running",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_PAUSED": "paused",
    "JOB_STATE_COMPLETED": "succeeded",
    "JOB_STATE_EARLY_STOPPED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_DELETING": "cancelled",
    "JOB_STATE_DELETING_CLEANING_UP": "cancelled",
}
COLLECTIONS = {"supervisedFineTuningJobs": "supervised", "dpoJobs": "dpo"}


def job_id_for(tag: str) -> str:
    """Fireworks job ids: lowercase letters, digits and hyphens, at most 63."""
    return "curator-" + re.sub(r"[^0-9a-f]", "", tag.lower())[:32]


def _epoch(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return None


class FireworksProvider(SdkProvider):
    sdk = fireworks
    sdk_error = fireworks.FireworksError

    def __init__(
        self,
        *,
        api_key: str,
        account_id: str,
        base_url: str | None = None,
        inference_url: str | None = None,
        name: str = "fireworks",
        label: str = "Fireworks AI",
        is_simulator: bool = False,
        timeout: float = 60.0,
        upload_timeout: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        allow_paid_deployments: bool = False,
    ) -> None:
        self.allow_paid_deployments = allow_paid_deployments
        if not api_key:
            raise PermanentProviderError(f"{label}: no API key configured", code="missing_api_key")
        if not account_id:
            raise PermanentProviderError(
                f"{label}: no account id configured (FIREWORKS_ACCOUNT_ID)", code="missing_account"
            )
        self.name = name
        self.label = label
        self.is_simulator = is_simulator
        self.account_id = account_id
        self.base_url = base_url or DEFAULT_BASE_URL
        self.inference_url = inference_url or f"{self.base_url.rstrip('/')}/inference/v1"
        self._sleep = sleep
        self.timeout = timeout
        self.upload_timeout = upload_timeout
        self.client = fireworks.Fireworks(
            api_key=api_key,
            account_id=account_id,
            base_url=self.base_url,
            max_retries=0,
            timeout=timeout,
        )
        self.upload_client = self.client.with_options(timeout=upload_timeout)

    def ping(self) -> None:
        self._call(lambda: self.client.supervised_fine_tuning_jobs.list(page_size=1))

    # -- datasets --------------------------------------------------------------------------

    def _dataset_name(self, dataset_id: str) -> str:
        return f"accounts/{self.account_id}/datasets/{dataset_id}"

    def upload_file(self, path: str | Path, *, purpose: str = "fine-tune") -> RemoteFile:
        path = Path(path)
        digest = hashlib.sha256()
        lines = 0
        with path.open("rb") as handle:
            for line in handle:
                digest.update(line)
                lines += bool(line.strip())
        # Named by content: a retried upload finds the dataset it made before.
        stem = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")[:30]
        dataset_id = f"{stem}-{digest.hexdigest()[:16]}".strip("-")
        try:
            self._call(
                lambda: self.client.datasets.create(
                    dataset_id=dataset_id,
                    dataset={
                        # The SDK sends these as displayName, exampleCount, userUploaded.
                        "display_name": path.name[:64],
                        "example_count": str(lines),
                        "format": "CHAT",
                        "user_uploaded": {},
                    },
                )
            )
        except PermanentProviderError as error:
            if error.status_code != 409:
                raise
        current = self._call(lambda: self.client.datasets.get(dataset_id))
        if current.state != "READY":
            if path.stat().st_size > DIRECT_UPLOAD_BYTES:
                self._upload_signed(dataset_id, path)
            else:
                with path.open("rb") as handle:
                    self._call(
                        lambda: self.upload_client.datasets.upload(
                            dataset_id, file=(path.name, handle, "application/jsonl")
                        )
                    )
        return RemoteFile(
            id=self._dataset_name(dataset_id),
            filename=path.name,
            bytes=path.stat().st_size,
            purpose=purpose,
            status="uploaded",
            created_at=int(time.time()),
        )

    def _upload_signed(self, dataset_id: str, path: Path) -> None:
        """Files over 150 MB: ask for a signed URL (getUploadEndpoint), PUT the bytes there,
        then validateUpload, as the SDK's own ``fireworks.lib.dataset_upload`` does. The
        signed URL gets the file and never the API key."""
        size = path.stat().st_size
        response = self._call(
            lambda: self.client.datasets.get_upload_endpoint(
                dataset_id, filename_to_size={path.name: str(size)}
            )
        )
        url = (response.filename_to_signed_urls or {}).get(path.name)
        if not url:
            raise PermanentProviderError(
                f"{self.label}: the upload endpoint gave no signed URL for {path.name}",
                code="upload_endpoint",
            )
        put_signed(
            url,
            path,
            label=self.label,
            timeout=self.upload_timeout,
            allow_http=self.is_simulator,
            headers={"X-Goog-Content-Length-Range": f"{size},{size}"},
        )
        self._call(lambda: self.client.datasets.validate_upload(dataset_id, body={}))

    def wait_for_file(
        self, file_id: str, *, timeout: float = 600.0, poll_interval: float = 2.0
    ) -> RemoteFile:
        dataset_id = file_id.rsplit("/", 1)[-1]

        def look() -> tuple[RemoteFile | None, str]:
            dataset = self._call(lambda: self.client.datasets.get(dataset_id))
            status = dataset.status
            if status is not None and status.code not in (None, "OK"):
                raise PermanentProviderError(
                    f"{self.label}: dataset {dataset_id} was refused: {status.message or status.code}",
                    code="file_processing_failed",
                )
            if dataset.state != "READY":
                return None, f"dataset {dataset_id} still {dataset.state}"
            ready = RemoteFile(
                id=file_id,
                filename=dataset.display_name or dataset_id,
                bytes=0,
                purpose="fine-tune",
                status="processed",
                created_at=_epoch(dataset.create_time) or 0,
            )
            return ready, ""

        return self._wait_until_ready(look, timeout=timeout, poll_interval=poll_interval)

    # -- jobs ------------------------------------------------------------------------------

    def _resource(self, job_id: str) -> tuple[Any, str]:
        """The SDK resource of a job and its bare id, from the id we store
        (``supervisedFineTuningJobs/ID`` or ``dpoJobs/ID``)."""
        collection, _, bare = job_id.rpartition("/")
        if collection.endswith("dpoJobs"):
            return self.client.dpo_jobs, bare
        return self.client.supervised_fine_tuning_jobs, bare or job_id

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
        chosen = dict(hyperparameters or {})
        tag = (metadata or {}).get(METADATA_TAG, "")
        job_id = job_id_for(tag) if tag else None
        output = (
            re.sub(r"[^a-z0-9-]+", "-", f"{suffix}-{job_id}".lower()).strip("-")[:63]
            if suffix and job_id
            else job_id
        )
        config: dict[str, Any] = {"base_model": model}
        if output:
            config["output_model"] = output
        if isinstance(chosen.get("n_epochs"), int):
            config["epochs"] = chosen["n_epochs"]
        if isinstance(chosen.get("batch_size"), int):
            config["batch_size_samples"] = chosen["batch_size"]
        if isinstance(chosen.get("learning_rate"), float | int):
            config["learning_rate"] = float(chosen["learning_rate"])
        if isinstance(chosen.get("lora_rank"), int):
            config["lora_rank"] = chosen["lora_rank"]
        if isinstance(chosen.get("max_seq_length"), int):
            config["max_context_length"] = chosen["max_seq_length"]
        display = (suffix or tag or "curator")[:60]
        try:
            if method == "dpo":
                camel = {
                    "base_model": "baseModel",
                    "output_model": "outputModel",
                    "epochs": "epochs",
                    "batch_size_samples": "batchSizeSamples",
                    "learning_rate": "learningRate",
                    "lora_rank": "loraRank",
                    "max_context_length": "maxContextLength",
                }
                kwargs: dict[str, Any] = {
                    "dataset": training_file,
                    "display_name": display,
                    "training_config": {camel[k]: v for k, v in config.items()},
                }
                if isinstance(chosen.get("dpo_beta"), float | int):
                    # lossConfig.dpo.beta (fireworks-ai DpoConfig: "> 0 and < 0.5").
                    kwargs["loss_config"] = {
                        "method": "DPO",
                        "dpo": {"beta": float(chosen["dpo_beta"])},
                    }
                if job_id:
                    kwargs["dpo_job_id"] = job_id
                created: DpoJob | SupervisedFineTuningJob = self._call(
                    lambda: self.client.dpo_jobs.create(**kwargs)
                )
            else:
                kwargs = {"dataset": training_file, "display_name": display, **config}
                if validation_file:
                    kwargs["evaluation_dataset"] = validation_file
                if job_id:
                    kwargs["supervised_fine_tuning_job_id"] = job_id
                created = self._call(
                    lambda: self.client.supervised_fine_tuning_jobs.create(**kwargs)
                )
        except PermanentProviderError as error:
            # ALREADY_EXISTS: the earlier create whose reply was lost did go through.
            if error.status_code == 409 and tag:
                found = self.find_job_by_metadata("", tag, method=method)
                if found is not None:
                    return found
            raise
        return self._job(created)

    def check_settings(
        self,
        *,
        model: str,
        hyperparameters: dict[str, Any] | None,
        method: str,
        validation: bool,
        seed: int | None = None,
    ) -> list[str]:
        """Fireworks' documented rules for what create_job would send (fireworks-ai 1.2.30
        request types: SupervisedFineTuningJob and DpoJob have no seed; DpoConfig's beta
        "must be > 0 and < 0.5")."""
        chosen = dict(hyperparameters or {})
        problems = []
        if seed is not None:
            problems.append(
                f"{self.label} fine-tuning jobs take no seed: leave the seed empty "
                "(it would not be sent)"
            )
        beta = chosen.get("dpo_beta")
        if method == "dpo" and isinstance(beta, float | int) and not 0 < beta < 0.5:
            problems.append(f"{self.label}: DPO beta must be > 0 and < 0.5 (asked {beta:g})")
        return problems

    def find_job_by_metadata(
        self, key: str, value: str, *, method: str | None = None
    ) -> RemoteJob | None:
        bare = job_id_for(value)
        resources: dict[str, Any] = {
            "supervised": self.client.supervised_fine_tuning_jobs,
            "dpo": self.client.dpo_jobs,
        }
        for kind, resource in resources.items():
            if method is not None and kind != method:
                continue
            try:
                return self._job(self._call(functools.partial(resource.get, bare)))
            except PermanentProviderError as error:
                if error.status_code != 404:
                    raise
        return None

    def get_job(self, job_id: str) -> RemoteJob:
        resource, bare = self._resource(job_id)
        return self._job(self._call(lambda: resource.get(bare)))

    def _job(self, obj: Any) -> RemoteJob:
        name = obj.name or ""
        collection = name.split("/")[-2] if name.count("/") >= 3 else "supervisedFineTuningJobs"
        stored_id = f"{collection}/{name.rsplit('/', 1)[-1]}"
        status = STATES.get(str(obj.state or ""), "queued")
        config = getattr(obj, "training_config", None) or obj
        output = getattr(config, "output_model", None)
        if output and "/" not in output:
            output = f"accounts/{self.account_id}/models/{output}"
        error = None
        if status == "failed":
            detail = obj.status.message if obj.status is not None else ""
            code = (obj.status.code if obj.status is not None else None) or "failed"
            error = RemoteJobError(code=code, message=detail or "the provider reports it failed")
        hyperparameters = {
            key: value
            for key, value in {
                "n_epochs": getattr(config, "epochs", None),
                "batch_size": getattr(config, "batch_size_samples", None)
                or getattr(config, "batch_size", None),
                "learning_rate": getattr(config, "learning_rate", None),
                "lora_rank": getattr(config, "lora_rank", None),
            }.items()
            if value is not None
        }
        return RemoteJob(
            id=stored_id,
            status=status,
            model=getattr(config, "base_model", None) or "",
            training_file=obj.dataset or "",
            created_at=_epoch(obj.create_time) or 0,
            validation_file=getattr(obj, "evaluation_dataset", None),
            fine_tuned_model=output if status == "succeeded" else None,
            finished_at=_epoch(getattr(obj, "completed_time", None)),
            hyperparameters=hyperparameters,
            metadata={"metrics_url": getattr(obj, "metrics_file_signed_url", None) or ""},
            error=error,
            deployment=self.deployment_text(output) if status == "succeeded" and output else None,
        )

    def _chat(self) -> Any:
        if self.client._base_url_overridden:
            # The SDK posts to {base_url}/v1/chat/completions when its URL is overridden,
            # else to Fireworks' inference API: keep to the inference path either way.
            return self.client.with_options(
                base_url=self.inference_url.removesuffix("/v1")
            ).chat.completions
        return self.client.chat.completions

    def serving(self, job: RemoteJob) -> Serving:
        """Fireworks serves a fine-tuned model once it is deployed: on its own on-demand
        deployment, or as a LoRA addon on a deployment of its base (docs.fireworks.ai:
        deploying fine-tuned models); both are billed per GPU-hour."""
        model = job.fine_tuned_model or ""
        return self._answers(
            self._chat(),
            model,
            not_deployed=(
                f"Fireworks serves {model} only once deployed: firectl create deployment "
                f"{model} (or firectl load-lora {model} --deployment <a deployment of its "
                "base>), then check again; or let Curator create it "
                "(CURATOR_ALLOW_PAID_DEPLOYMENTS, billed per GPU-hour)"
            ),
        )

    def deploy(self, job: RemoteJob, *, name: str) -> Serving:
        """When Curator may start paid deployments: an on-demand deployment of the model,
        one replica, with the id ``name`` (``deployments.create``; a retry finds it by that
        id, or is answered 409); then as ``serving``. Otherwise ``serving`` alone."""
        model = job.fine_tuned_model or ""
        if not self.allow_paid_deployments:
            return self.serving(job)
        deployment = self._deployment(name)
        if deployment is None:
            current = self.serving(job)
            if current.state == "answering":
                return current
            try:
                deployment = self._call(
                    lambda: self.client.deployments.create(
                        base_model=model,
                        deployment_id=name,
                        display_name=name,
                        min_replica_count=1,
                        max_replica_count=1,
                    )
                )
            except PermanentProviderError as error:
                if error.status_code != 409:
                    raise
                deployment = self._deployment(name)
        state = str(getattr(deployment, "state", "") or "")
        where = f"on-demand deployment {name} ({state or 'state unknown'}), billed per GPU-hour"
        if state != "READY":
            return Serving(model=model, state="deploying", detail=where, deployment=name)
        answered = self.serving(job)
        return Serving(
            model=model,
            state=answered.state,
            detail=f"{answered.detail}; {where}",
            deployment=name,
        )

    def _deployment(self, deployment_id: str) -> Any:
        try:
            return self._call(lambda: self.client.deployments.get(deployment_id))
        except PermanentProviderError as error:
            if error.status_code == 404:
                return None
            raise

    def undeploy(self, serving: Serving) -> None:
        """Delete the deployment Curator created (one already gone is fine)."""
        if not serving.deployment:
            return
        try:
            self._call(lambda: self.client.deployments.delete(serving.deployment))
        except PermanentProviderError as error:
            if error.status_code != 404:
                raise

    def deployment_text(self, model: str) -> str:
        return (
            f"Fireworks model {model}: deploy it (serverless LoRA or on-demand), then call "
            f"{self.inference_url}/chat/completions with model={model}"
        )

    def _metric_rows(self, job_id: str, metrics_url: str | None = None) -> list[dict[str, Any]]:
        resource, bare = self._resource(job_id)
        url = metrics_url
        if not url and resource is self.client.dpo_jobs:
            url = self._call(
                lambda: self.client.dpo_jobs.get_metrics_file_endpoint(bare)
            ).signed_url
        if not url:
            url = self.get_job(job_id).metadata.get("metrics_url")
        if not url:
            return []
        try:
            # A signed URL: the URL is the credential, no API key goes with it.
            response = httpx.get(url, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise TransientProviderError(
                f"{self.label}: connection to {url.split('?')[0]} failed ({exc})",
                code="connection_error",
            ) from exc
        if response.status_code == 404:
            return []
        if response.status_code >= 400:
            raise TransientProviderError(
                f"{self.label}: metrics file answered HTTP {response.status_code}",
                code="server_error",
                status_code=response.status_code,
            )
        rows: dict[int, dict[str, Any]] = {}
        for line in response.text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if not isinstance(item, dict) or not isinstance(item.get("step"), int | float):
                continue
            row: dict[str, Any] = {"step": int(item["step"])}
            if isinstance(item.get("train/loss"), int | float):
                row["train_loss"] = item["train/loss"]
            if isinstance(item.get("eval/loss"), int | float):
                row["valid_loss"] = item["eval/loss"]
            rows[row["step"]] = row
        return [rows[step] for step in sorted(rows)]

    def list_events(self, job_id: str, *, after: str | None = None) -> list[RemoteEvent]:
        # Fireworks has no event log: each metrics row becomes a metrics event, keyed by
        # step, so the chart fills while the job runs.
        seen = int(after[1:]) if after and after[1:].isdigit() else 0
        now = int(time.time())
        return [
            RemoteEvent(
                id=f"m{row['step']}",
                created_at=now,
                level="info",
                message=f"Step {row['step']}: training loss={row.get('train_loss', 0):.4f}",
                type="metrics",
                data=row,
            )
            for row in self._metric_rows(job_id)
            if row["step"] > seen
        ]

    def list_checkpoints(self, job_id: str) -> list[RemoteCheckpoint]:
        # fireworks-ai 1.2.30 lists no intermediate checkpoints of a fine-tuning job: the job
        # page says the provider reported none.
        return []

    def download_adapter(self, job: RemoteJob, folder: Path) -> Path | None:
        """The trained model's files, from the signed URLs ``models.get_download_endpoint``
        gives (each fetched without the API key), packed into one tar for storage."""
        if not job.fine_tuned_model:
            return None
        model_id = job.fine_tuned_model.rsplit("/", 1)[-1]
        response = self._call(lambda: self.client.models.get_download_endpoint(model_id))
        urls = response.filename_to_signed_urls or {}
        if not urls:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        raw = folder.parent / f"{folder.name}-files"
        raw.mkdir(parents=True, exist_ok=True)
        try:
            with httpx.Client(timeout=self.upload_timeout, follow_redirects=True) as http:
                for name, url in urls.items():
                    target = raw / Path(name).name
                    with http.stream("GET", url) as reply, target.open("wb") as sink:
                        reply.raise_for_status()
                        for chunk in reply.iter_bytes(1024 * 1024):
                            sink.write(chunk)
        except httpx.HTTPError as error:
            raise TransientProviderError(
                f"{self.label}: downloading {job.fine_tuned_model} failed ({error})",
                code="download_failed",
            ) from None
        archive = folder / f"{model_id}.tar"
        with tarfile.open(archive, "w") as tar:
            for path in sorted(raw.iterdir()):
                tar.add(path, arcname=path.name)
        return archive

    def cancel(self, job_id: str) -> RemoteJob:
        resource, bare = self._resource(job_id)
        self._call(lambda: resource.cancel(bare, body={}))
        return self.get_job(job_id)

    def result_metrics(self, job: RemoteJob) -> list[dict[str, Any]]:
        return self._metric_rows(job.id, job.metadata.get("metrics_url") or None)
