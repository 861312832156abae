"""The "training-gpu" queue's part of a local fine-tune (``manage.py rqworker training-gpu``).

``run_local_training_job`` takes the row over from the waiting chain (a conditional UPDATE
from remote status "queued" to "running" under the same chain; the poll chain of
``handoff`` sees that and ends) and trains with ``training.local.engine`` under torchrun,
streaming events, per-step losses and checkpoints into the same tables as a hosted job. From
then on only this job beats the heartbeat, so a killed GPU worker shows as "worker lost"
with Retry. Retry starts a new chain, which resumes from the last stored checkpoint.

Cancel is the row's status: the work horse re-reads it (at most every couple of seconds)
and passes it on to the group. Neither this module nor the work horse imports torch.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rq import get_current_job

from curation.models import JobStatus
from curation.models.jobs import first_line
from training.hyperparameters import lora_settings, train_settings
from training.local import TrainResult, is_available
from training.local.launcher import LaunchFailed, run_group
from training.models import FineTuneCheckpoint, FineTuneJob, FineTuneMetric
from training.providers import LocalBackend, ProviderError
from training.registry.services import register_finetuned_model
from training.services.local.callbacks import JobCallbacks, forward_message
from training.services.local.handoff import gpu_job_id, local_backend
from training.services.local_artifacts import (
    adapter_prefix,
    dataset_info,
    delete_tree,
    fetch_resume_checkpoint,
    materialize,
    pair_samples,
    resolvable_checkpoint,
    resolved_hyperparameters,
    sample_prompts,
    store_adapter,
)
from training.services.version_files import LaunchError

logger = logging.getLogger(__name__)


def claim_gpu(*, job: FineTuneJob, chain: str) -> bool:
    """Take the row over from the waiting chain; False if it was cancelled, retried under
    another chain, or already taken (a duplicate delivery)."""
    now = timezone.now()
    claimed = FineTuneJob.objects.filter(
        pk=job.pk,
        status=JobStatus.RUNNING,
        chain=chain,
        remote_job_id=gpu_job_id(job.pk, chain),
        remote_status="queued",
    ).update(
        remote_status="running",
        heartbeat_at=now,
        next_check_at=None,
        last_problem="",
        done=0,
        total=None,
        estimated_finish=None,
        fine_tuned_model="",
        artifacts={},
        samples=[],
    )
    if not claimed:
        return False
    job.refresh_from_db()
    resume = resolvable_checkpoint(job)
    if resume is None:
        # Nothing to resume from: the run starts over, and what an earlier attempt left
        # would mix two runs in one chart and one folder.
        FineTuneMetric.objects.filter(job=job).delete()
        FineTuneCheckpoint.objects.filter(job=job).delete()
        delete_tree(adapter_prefix(job))
    else:
        # The retry continues from that checkpoint: what came after it is done again.
        FineTuneMetric.objects.filter(job=job, step__gt=resume.step).delete()
        FineTuneCheckpoint.objects.filter(job=job, step__gt=resume.step).delete()
    job.add_timeline("running")
    return True


def run_local_training_job(*, job_id: int, chain: str) -> str:
    """The GPU job: claim the row, train, store the adapter and samples; returns how it
    ended ("skipped", "succeeded", "cancelled", "failed")."""
    job = FineTuneJob.objects.select_related("dataset", "version", "version__dataset").get(
        pk=job_id
    )
    if not claim_gpu(job=job, chain=chain):
        logger.info("local fine-tune %s: not ours to train (%s)", job_id, job.status)
        return "skipped"
    callbacks = JobCallbacks(job=job, chain=chain, prefix=adapter_prefix(job))
    try:
        backend = local_backend(job)
        with keep_beating(job_id=job.pk, chain=chain):
            return _train(job=job, chain=chain, backend=backend, callbacks=callbacks)
    except ProviderError as error:
        _fail(job, chain, callbacks, str(error), code=error.code or "provider_error")
        return "failed"
    except Exception as error:
        logger.exception("local fine-tune %s failed", job.pk)
        _fail(
            job,
            chain,
            callbacks,
            f"unexpected error ({type(error).__name__}: {first_line(error)}); "
            "Retry resumes from the last checkpoint",
            code="internal_error",
        )
        raise


def _train(*, job: FineTuneJob, chain: str, backend: LocalBackend, callbacks: JobCallbacks) -> str:
    hyperparameters = job.hyperparameters or {}
    lora = lora_settings(hyperparameters)
    train = train_settings(hyperparameters, seed=job.seed)
    merge = bool(hyperparameters.get("merge_weights"))
    gpus = int(hyperparameters.get("gpus") or settings.CURATOR_LOCAL_GPUS)
    if not is_available():
        _fail(
            job,
            chain,
            callbacks,
            "this GPU worker cannot train: the local-training extra (torch, transformers, "
            "peft) is missing. Install it there (pip install -e '.[local-training]'), "
            "restart it, and Retry",
            code="extra_missing",
        )
        return "failed"
    with tempfile.TemporaryDirectory(prefix="curator-lora-", dir=backend.work_dir) as folder:
        root = Path(folder)
        try:
            files = materialize(job=job, folder=root / "data")
        except LaunchError as error:
            _fail(job, chain, callbacks, str(error), code="training_error", terminal=True)
            return "failed"
        resume = fetch_resume_checkpoint(job=job, folder=root / "resume")
        source = "validation.jsonl" if "validation.jsonl" in files else "train.jsonl"
        prompts = sample_prompts(files[source], count=backend.sample_count)
        callbacks.on_event(
            "info",
            f"Training {job.base_model} with LoRA on {job.version.dataset.slug} "
            f"{job.version.label}: {gpus} process{'es' if gpus != 1 else ''} under torchrun "
            f"(worker {_worker_name()})",
        )
        spec = {
            "base_model": job.base_model,
            "train_path": str(files["train.jsonl"]),
            "validation_path": str(files["validation.jsonl"])
            if "validation.jsonl" in files
            else None,
            "output_dir": str(root / "run"),
            "lora": lora.as_dict(),
            "train": train.as_dict(),
            "cache_dir": str(backend.cache_dir) if backend.cache_dir else None,
            "dataset_info": dataset_info(job),
            "merge": merge,
            "device": backend.device,
            "resume_from": str(resume) if resume else None,
            "sample_prompts": [sample["prompt"] for sample in prompts],
            "sample_max_new_tokens": backend.sample_max_new_tokens,
            "method": job.method,
            "dpo_beta": job.hyperparameters.get("dpo_beta"),
        }
        try:
            outcome = run_group(
                spec=spec,
                gpus=gpus,
                folder=root / "group",
                on_message=lambda message: forward_message(callbacks, message),
                should_stop=callbacks.should_stop,
            )
        except LaunchFailed as error:
            _fail(
                job,
                chain,
                callbacks,
                f"the training processes failed: {first_line(error)}; Retry resumes from "
                "the last checkpoint",
                code="training_process",
            )
            logger.warning("local fine-tune %s: %s", job.pk, error)
            return "failed"
        if outcome.get("error"):
            # Retrying the same settings on the same data fails the same way: the job
            # ends here, and "Launch again" lets a person change what needs changing.
            _fail(job, chain, callbacks, outcome["error"], code="training_error", terminal=True)
            return "failed"
        if outcome["status"] == "cancelled" or not outcome.get("adapter_dir"):
            logger.info("local fine-tune %s stopped after step %s", job.pk, outcome["steps"])
            return "cancelled"
        result = TrainResult(
            status="completed",
            steps=outcome["steps"],
            total_steps=outcome["total_steps"],
            tokens_seen=outcome["tokens_seen"],
            trained_tokens=outcome["trained_tokens"],
            train_loss=outcome["train_loss"],
            valid_loss=outcome["valid_loss"],
            seconds=outcome["seconds"],
            device=outcome["device"],
            precision=outcome["precision"],
            train_examples=outcome["train_examples"],
            validation_examples=outcome["validation_examples"],
            adapter_dir=Path(outcome["adapter_dir"]),
            merged_dir=Path(outcome["merged_dir"]) if outcome.get("merged_dir") else None,
        )
        callbacks.on_event("info", "Saving the adapter to storage")
        artifacts = {**store_adapter(job=job, result=result), "gpus": outcome.get("gpus", gpus)}
        samples = pair_samples(prompts, outcome.get("samples") or {}, source=source)
    finished = _finish(
        job,
        chain,
        JobStatus.SUCCEEDED,
        remote_status="succeeded",
        fine_tuned_model=artifacts["adapter"],
        trained_tokens=result.tokens_seen,
        resolved_hyperparameters={
            **resolved_hyperparameters(lora=lora, train=train, merge=merge, result=result),
            "gpus": outcome.get("gpus", gpus),
        },
        artifacts=artifacts,
        samples=samples,
        done=result.steps,
        total=result.total_steps,
        estimated_finish=None,
        last_problem="",
    )
    if finished:
        register_finetuned_model(job=job)
        callbacks.on_event("info", f"Fine-tune succeeded: adapter at {artifacts['adapter']}")
        job.add_timeline("succeeded")
        return "succeeded"
    return "cancelled"


def _finish(job: FineTuneJob, chain: str, status: str, **fields: Any) -> bool:
    """End the row if this chain still owns it (a cancel or a retry that landed first stands)."""
    values = {"status": status, "finished_at": timezone.now(), "next_check_at": None, **fields}
    done = FineTuneJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, chain=chain).update(
        **values
    )
    job.refresh_from_db()
    return bool(done)


def _fail(
    job: FineTuneJob,
    chain: str,
    callbacks: JobCallbacks,
    message: str,
    *,
    code: str,
    terminal: bool = False,
) -> None:
    logger.warning("local fine-tune %s failed: %s", job.pk, message)
    fields: dict[str, Any] = {"error": message[:10000], "error_code": code}
    if terminal:
        fields["remote_status"] = "failed"  # nothing to resume: Retry is not offered
    if _finish(job, chain, JobStatus.FAILED, **fields):
        callbacks.on_event("error", message)
        job.add_timeline("failed")


def _worker_name() -> str:
    current = get_current_job()
    return getattr(current, "worker_name", None) or "in-process"


@contextmanager
def keep_beating(*, job_id: int, chain: str) -> Iterator[None]:
    """Beat the row's heartbeat from a thread while the GPU job lives.

    Loading a large model, tokenizing, a long validation pass and sample generation all
    take minutes without a training step; the per-step beats alone would let the row look
    lost then. The thread dies with the worker, so a killed worker still goes silent.
    Inside a transaction (tests) the thread's own connection could wait on the caller's
    locks, so the per-step beats do alone there.
    """
    interval = float(settings.CURATOR_JOB_HEARTBEAT_TIMEOUT) / 4
    if interval <= 0 or connection.in_atomic_block:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                FineTuneJob.objects.filter(pk=job_id, status=JobStatus.RUNNING, chain=chain).update(
                    heartbeat_at=timezone.now()
                )
        except Exception:
            logger.exception("local fine-tune %s: heartbeat thread stopped", job_id)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
