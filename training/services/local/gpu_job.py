"""Local LoRA fine-tunes: the same job lifecycle as hosted providers, trained on our GPUs.

Two RQ queues share the row:

- On ``training`` (any machine), the job's chain claims the row as for every provider, then
  hands it to the GPU queue once per chain (the RQ job id carries the chain token, so a
  duplicate delivery or a stray continuation never queues a second one) and polls, beating
  the heartbeat, until a GPU worker takes it: a job may wait hours for a busy GPU without
  being taken for lost. The poll also says on the page why it waits (no GPU worker alive,
  jobs ahead of it).
- On ``training-gpu`` (``manage.py rqworker training-gpu``), ``run_local_training_job``
  takes the row over (a conditional UPDATE from remote status "queued" to "running" under
  the same chain; the poll chain sees that and ends) and trains with
  ``training.local.engine``, streaming events, per-step losses and checkpoints into the
  same tables as a hosted job. From then on only this job beats the heartbeat, so a killed
  GPU worker shows as "worker lost" with Retry. Retry starts a new chain, which trains
  again from the start.

Cancel is the row's status: the work horse re-reads it (at most every couple of seconds)
and passes it on to the group. Neither this module nor the work horse imports torch.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from curation.models import JobStatus
from training.local import NullCallbacks, TrainResult, is_available
from training.local.launcher import LaunchFailed, run_group
from training.models import FineTuneCheckpoint, FineTuneEvent, FineTuneJob, FineTuneMetric
from training.providers import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    get_provider,
)
from training.providers.local import LocalProvider, lora_settings, train_settings
from training.registry.services import register_finetuned_model
from training.services import config
from training.services.launch import LaunchError
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
    save_tree,
    storable,
    store_adapter,
)
from training.services.sync import store_metrics

logger = logging.getLogger(__name__)

GPU_JOB_FUNCTION = "training.local_jobs.run_local_training"
# Event levels as the job page colours them (the engine says "warning").
_LEVELS = {"warning": "warn"}

Schedule = Callable[[FineTuneJob, float], None]


def stop_check_seconds() -> float:
    """How long the trainer trusts its last look at the row before asking again."""
    return float(getattr(settings, "CURATOR_LOCAL_STOP_CHECK_SECONDS", 2.0))


def gpu_job_id(job_id: int, chain: str) -> str:
    # One GPU job per chain: queuing it twice under the same id would replace, not add.
    return f"training_local-{job_id}-{chain[:12]}"


def local_provider(job: FineTuneJob) -> LocalProvider:
    provider = get_provider(job.provider)
    if not isinstance(provider, LocalProvider):
        raise PermanentProviderError(
            f"provider {job.provider!r} is configured as kind 'local', but its backend is not "
            "a LocalProvider",
            code="provider_not_configured",
        )
    return provider


# -- the "training" queue: hand over, then wait for a GPU worker -------------------------------


def step_local(*, job: FineTuneJob, schedule: Schedule) -> float | None:
    """One step of the training-queue chain of a local job; the next poll's delay, if any."""
    from training.services.runner import _retry_later

    try:
        provider = local_provider(job)
        finished, note = advance_local(job=job, provider=provider)
    except TransientProviderError as error:
        return _retry_later(job, error, schedule)
    except PermanentProviderError as error:
        job.fail(str(error), error_code=error.code or "provider_error")
        return None
    except Exception as error:
        logger.exception("local fine-tune %s failed before training", job.pk)
        job.fail(
            f"unexpected error ({type(error).__name__}: {_first_line(error)}); "
            "Retry hands the job to a GPU worker again",
            error_code="internal_error",
        )
        raise
    if finished:
        return None
    polls = job.polls + 1
    delay = config.poll_delay(polls)
    # Only while no GPU worker has taken the row: once one has, its heartbeats alone
    # must keep the row alive, or a killed GPU worker would never show as lost.
    waiting = FineTuneJob.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, chain=job.chain, remote_status="queued"
    ).update(
        heartbeat_at=timezone.now(),
        polls=polls,
        transient_failures=0,
        last_problem=note,
        next_check_at=timezone.now() + timedelta(seconds=delay),
    )
    if not waiting:
        return None
    job.polls = polls
    schedule(job, delay)
    return delay


def advance_local(*, job: FineTuneJob, provider: LocalProvider) -> tuple[bool, str]:
    """Queue the GPU job for this chain unless done; (finished here, why it still waits)."""
    from redis.exceptions import RedisError

    rq_id = gpu_job_id(job.pk, job.chain)
    try:
        if job.remote_job_id != rq_id:
            if not hand_off(job=job, provider=provider, rq_id=rq_id):
                return True, ""
            return False, waiting_note(provider, rq_id)
        job.refresh_from_db(fields=["status", "remote_status"])
        if job.status != JobStatus.RUNNING or job.remote_status != "queued":
            return True, ""  # cancelled, or a GPU worker owns the row now
        state = _rq_status(provider, rq_id)
        if state is None:
            # Queued after commit but lost before it reached Redis (or Redis was flushed):
            # queue it again; the GPU job's conditional claim makes a duplicate harmless.
            _enqueue(provider, job_id=job.pk, chain=job.chain, rq_id=rq_id)
        elif state in ("failed", "stopped", "canceled"):
            reason = _rq_failure(provider, rq_id) or f"its RQ job is {state}"
            job.fail(
                f"a GPU worker could not start the training ({reason}); Retry queues it again",
                error_code="gpu_job_failed",
            )
            return True, ""
        return False, waiting_note(provider, rq_id)
    except RedisError as error:
        raise TransientProviderError(f"cannot reach Redis ({error})") from None


def hand_off(*, job: FineTuneJob, provider: LocalProvider, rq_id: str) -> bool:
    """Record the GPU job on the row and queue it once the row is committed; False if the
    row was cancelled (or taken by another chain) first."""
    with transaction.atomic():
        locked = FineTuneJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != JobStatus.RUNNING or locked.chain != job.chain:
            return False
        FineTuneJob.objects.filter(pk=job.pk).update(
            remote_job_id=rq_id, remote_status="queued", heartbeat_at=timezone.now()
        )
        transaction.on_commit(
            lambda: _enqueue(provider, job_id=job.pk, chain=job.chain, rq_id=rq_id)
        )
    job.remote_job_id = rq_id
    job.remote_status = "queued"
    job.add_timeline("gpu_queued")
    return True


def _enqueue(provider: LocalProvider, *, job_id: int, chain: str, rq_id: str) -> None:
    queue = provider.queue()
    queue.enqueue(GPU_JOB_FUNCTION, job_id, chain, job_id=rq_id, job_timeout=queue._default_timeout)


def _rq_status(provider: LocalProvider, rq_id: str) -> str | None:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RQJob

    try:
        status = RQJob.fetch(rq_id, connection=provider.queue().connection).get_status()
    except NoSuchJobError:
        return None
    return str(getattr(status, "value", status)) if status is not None else None


def _rq_failure(provider: LocalProvider, rq_id: str) -> str:
    from rq.job import Job as RQJob

    try:
        result = RQJob.fetch(rq_id, connection=provider.queue().connection).latest_result()
    except Exception:  # the reason is a courtesy; the failure stands without it
        return ""
    text = (getattr(result, "exc_string", "") or "").strip()
    return text.splitlines()[-1][:300] if text else ""


def waiting_note(provider: LocalProvider, rq_id: str) -> str:
    """What the job page says while the job waits for a GPU worker."""
    workers = provider.gpu_workers()
    if not workers:
        return (
            f"Waiting for a GPU worker: none is listening on the {provider.queue_name} queue "
            f"(start one with `manage.py rqworker {provider.queue_name}`)."
        )
    position = provider.queue().get_job_position(rq_id)
    ahead = f"; {position} job{'s' if position != 1 else ''} ahead of it" if position else ""
    count = len(workers)
    return f"Waiting for a free GPU worker ({count} listening on {provider.queue_name}{ahead})."


# -- the "training-gpu" queue: train ------------------------------------------------------------


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
        provider = local_provider(job)
        with keep_beating(job_id=job.pk, chain=chain):
            return _train(job=job, chain=chain, provider=provider, callbacks=callbacks)
    except ProviderError as error:
        _fail(job, chain, callbacks, str(error), code=error.code or "provider_error")
        return "failed"
    except Exception as error:
        logger.exception("local fine-tune %s failed", job.pk)
        _fail(
            job,
            chain,
            callbacks,
            f"unexpected error ({type(error).__name__}: {_first_line(error)}); "
            "Retry resumes from the last checkpoint",
            code="internal_error",
        )
        raise


def _train(
    *, job: FineTuneJob, chain: str, provider: LocalProvider, callbacks: JobCallbacks
) -> str:
    hyperparameters = job.hyperparameters or {}
    lora = lora_settings(hyperparameters)
    train = train_settings(hyperparameters, seed=job.seed)
    merge = bool(hyperparameters.get("merge_weights"))
    gpus = int(hyperparameters.get("gpus") or getattr(settings, "CURATOR_LOCAL_GPUS", 1))
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
    with tempfile.TemporaryDirectory(prefix="curator-lora-", dir=provider.work_dir) as folder:
        root = Path(folder)
        try:
            files = materialize(job=job, folder=root / "data")
        except LaunchError as error:
            _fail(job, chain, callbacks, str(error), code="training_error", terminal=True)
            return "failed"
        resume = fetch_resume_checkpoint(job=job, folder=root / "resume")
        source = "validation.jsonl" if "validation.jsonl" in files else "train.jsonl"
        prompts = sample_prompts(files[source], count=provider.sample_count)
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
            "cache_dir": str(provider.cache_dir) if provider.cache_dir else None,
            "dataset_info": dataset_info(job),
            "merge": merge,
            "device": provider.device,
            "resume_from": str(resume) if resume else None,
            "sample_prompts": [sample["prompt"] for sample in prompts],
            "sample_max_new_tokens": provider.sample_max_new_tokens,
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
                f"the training processes failed: {_first_line(error)}; Retry resumes from "
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


def forward_message(callbacks: JobCallbacks, message: dict[str, Any]) -> None:
    """One line from rank 0 into the job's tables."""
    kind = message.get("kind")
    if kind == "event":
        callbacks.on_event(message["level"], message["message"])
    elif kind == "step":
        callbacks.on_step(
            message["step"],
            message["total_steps"],
            message["train_loss"],
            message["learning_rate"],
            message["tokens_seen"],
        )
    elif kind == "eval":
        callbacks.on_eval(message["step"], message["valid_loss"])
    elif kind == "checkpoint":
        callbacks.on_checkpoint(message["step"], Path(message["path"]))


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


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _worker_name() -> str:
    from rq import get_current_job

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
        from django.db import connection as thread_connection

        try:
            while not stop.wait(interval):
                FineTuneJob.objects.filter(pk=job_id, status=JobStatus.RUNNING, chain=chain).update(
                    heartbeat_at=timezone.now()
                )
        except Exception:
            logger.exception("local fine-tune %s: heartbeat thread stopped", job_id)
        finally:
            thread_connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


class JobCallbacks(NullCallbacks):
    """The engine's reports, written into the job's tables as they come."""

    def __init__(self, *, job: FineTuneJob, chain: str, prefix: str) -> None:
        self.job = job
        self.chain = chain
        self.prefix = prefix
        self.events = 0
        # The latest step's metrics: validation and checkpoints come right after its step.
        self.row: dict[str, Any] = {}
        self.stopping = False
        self.checked_at = -math.inf
        self.started: tuple[float, int] | None = None

    def on_event(self, level: str, message: str) -> None:
        self.events += 1
        FineTuneEvent.objects.create(
            job=self.job,
            remote_id=f"local-{self.chain[:12]}-{self.events:06d}",
            created_at=timezone.now(),
            level=_LEVELS.get(level, level)[:16],
            message=storable(message),
        )

    def _metrics(self, step: int, **values: Any) -> dict[str, Any]:
        if self.row.get("step") != step:
            self.row = {"step": step}
        self.row.update(values)
        store_metrics(self.job, [self.row], source="local")
        return self.row

    def on_step(
        self,
        step: int,
        total_steps: int,
        train_loss: float,
        learning_rate: float,
        tokens_seen: int,
    ) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started = (now, step)
        self._metrics(
            step,
            train_loss=train_loss,
            learning_rate=learning_rate,
            tokens_seen=tokens_seen,
            total_steps=total_steps,
        )
        fields: dict[str, Any] = {}
        began, first_step = self.started
        if step > first_step:
            per_step = (now - began) / (step - first_step)
            fields["estimated_finish"] = timezone.now() + timedelta(
                seconds=per_step * (total_steps - step)
            )
        self.job.beat(done=step, total=total_steps, **fields)
        if step == 1 or step == total_steps or step % max(1, total_steps // 10) == 0:
            self.on_event(
                "info",
                f"Step {step}/{total_steps}: training loss {train_loss:.4f}, "
                f"learning rate {learning_rate:.3g}",
            )

    def on_eval(self, step: int, valid_loss: float) -> None:
        row = self._metrics(step, valid_loss=valid_loss)
        self.on_event(
            "info",
            f"Step {step}: validation loss {valid_loss:.4f}"
            + (f" (training loss {row['train_loss']:.4f})" if "train_loss" in row else ""),
        )

    def on_checkpoint(self, step: int, path: Path) -> None:
        where = f"{self.prefix}/checkpoints/{path.name}"
        save_tree(path, where)
        metrics = {
            key: self.row[key]
            for key in ("train_loss", "valid_loss")
            if self.row.get("step") == step and key in self.row
        }
        FineTuneCheckpoint.objects.update_or_create(
            job=self.job,
            remote_id=f"step-{step}",
            defaults={
                "created_at": timezone.now(),
                "step": step,
                "fine_tuned_model_checkpoint": where,
                "metrics": metrics,
            },
        )
        self.on_event("info", f"Checkpoint at step {step} saved to {where}")

    def should_stop(self) -> bool:
        """True once the row is cancelled or no longer this chain's; the answer is kept for
        a couple of seconds so a fast loop does not ask the database at every step."""
        if self.stopping:
            return True
        now = time.monotonic()
        if now - self.checked_at < stop_check_seconds():
            return False
        self.checked_at = now
        self.stopping = not FineTuneJob.objects.filter(
            pk=self.job.pk, status=JobStatus.RUNNING, chain=self.chain
        ).exists()
        if self.stopping:
            self.on_event("warning", "Stopping: the job was cancelled")
        return self.stopping
