"""Following a job at its provider: status, events, metrics, checkpoints, the final result.

A sync may run from the poll chain and from a webhook at the same moment, so every write
is idempotent: events and checkpoints are keyed by their remote id, metrics by step, and
status changes are conditional UPDATEs that only move forward.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from curation.models import ACTIVE_STATUSES, JobStatus
from training.models import (
    AUTO,
    METRIC_FIELDS,
    REMOTE_TERMINAL,
    FineTuneCheckpoint,
    FineTuneEvent,
    FineTuneJob,
    FineTuneMetric,
    from_epoch,
)
from training.providers import (
    PermanentProviderError,
    Provider,
    ProviderError,
    RemoteCheckpoint,
    RemoteEvent,
    RemoteJob,
    get_provider,
)
from training.registry.services import register_finetuned_model
from training.services.remote_artifacts import note_deployment, store_remote_adapter

logger = logging.getLogger(__name__)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _metric(job: FineTuneJob, row: dict[str, Any], *, source: str) -> FineTuneMetric | None:
    step = row.get("step")
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None
    data = {key: value for key, value in row.items() if value is not None}
    return FineTuneMetric(
        job=job,
        step=step,
        source=source,
        data=data,
        **{name: _number(row.get(name)) for name in METRIC_FIELDS},
    )


def store_metrics(job: FineTuneJob, rows: list[dict[str, Any]], *, source: str) -> int:
    """Upsert per-step metrics; a later report of a step replaces the earlier one."""
    metrics = [m for row in rows if (m := _metric(job, row, source=source)) is not None]
    by_step = {metric.step: metric for metric in metrics}
    if by_step:
        FineTuneMetric.objects.bulk_create(
            list(by_step.values()),
            update_conflicts=True,
            unique_fields=["job", "step"],
            update_fields=[*METRIC_FIELDS, "data", "source"],
            batch_size=1000,
        )
    return len(by_step)


def store_events(job: FineTuneJob, events: list[RemoteEvent]) -> None:
    """Store new events once each, with the metrics some of them carry."""
    if not events:
        return
    rows = []
    for event in events:
        step = event.data.get("step") if event.data else None
        rows.append(
            FineTuneEvent(
                job=job,
                remote_id=event.id,
                created_at=from_epoch(event.created_at),
                level=(event.level or "info")[:16],
                type=(event.type or "message")[:32],
                message=event.message,
                data=event.data or {},
                step=int(step) if isinstance(step, int | float) and step >= 0 else None,
            )
        )
    FineTuneEvent.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    metrics = [event.metrics for event in events if event.metrics]
    store_metrics(job, [m for m in metrics if m], source="event")
    fields: dict[str, Any] = {"last_event_id": events[-1].id}
    latest = next((m for m in reversed(metrics) if m and "step" in m), None)
    if latest is not None and isinstance(latest.get("total_steps"), int):
        fields["done"] = int(latest["step"])
        fields["total"] = int(latest["total_steps"])
    job.beat(**fields)


def store_checkpoints(job: FineTuneJob, checkpoints: list[RemoteCheckpoint]) -> None:
    if not checkpoints:
        return
    FineTuneCheckpoint.objects.bulk_create(
        [
            FineTuneCheckpoint(
                job=job,
                remote_id=checkpoint.id,
                created_at=from_epoch(checkpoint.created_at),
                step=checkpoint.step_number,
                fine_tuned_model_checkpoint=checkpoint.fine_tuned_model_checkpoint,
                metrics=checkpoint.metrics,
            )
            for checkpoint in checkpoints
        ],
        update_conflicts=True,
        unique_fields=["job", "remote_id"],
        update_fields=["created_at", "step", "fine_tuned_model_checkpoint", "metrics"],
    )


def timeline_key(remote_status: str) -> str:
    # Our own row also has a "queued" step; the provider's queue is a different one.
    return "remote_queued" if remote_status == "queued" else remote_status


def apply_remote(job: FineTuneJob, remote: RemoteJob) -> None:
    """Copy what the provider reports onto the row; the status only moves forward."""
    fields: dict[str, Any] = {
        "resolved_hyperparameters": {
            key: value for key, value in remote.hyperparameters.items() if value != AUTO
        }
        or job.resolved_hyperparameters,
        "estimated_finish": from_epoch(remote.estimated_finish),
    }
    if remote.fine_tuned_model:
        fields["fine_tuned_model"] = remote.fine_tuned_model
    if remote.trained_tokens is not None:
        fields["trained_tokens"] = remote.trained_tokens
    job.beat(**fields)
    if remote.status != job.remote_status:
        moved = (
            FineTuneJob.objects.filter(pk=job.pk, remote_status=job.remote_status)
            .exclude(remote_status__in=REMOTE_TERMINAL)
            .update(remote_status=remote.status)
        )
        if moved:
            job.remote_status = remote.status
            job.add_timeline(timeline_key(remote.status))
        else:
            job.refresh_from_db()


def finish_from_remote(job: FineTuneJob, provider: Provider, remote: RemoteJob) -> None:
    """Record the provider's verdict on a job that ended there."""
    if remote.status == "succeeded":
        try:
            rows = provider.result_metrics(remote)
        except PermanentProviderError as error:
            # Training succeeded; an unreadable result file must not turn that into a
            # failure. The metrics events seen along the way remain.
            logger.warning("fine-tune %s: result metrics unavailable: %s", job.pk, error)
            job.beat(last_problem=f"The result file could not be read: {error}")
        else:
            store_metrics(job, rows, source="result")
            if rows:
                last = rows[-1].get("step")
                if isinstance(last, int):
                    job.beat(done=last, total=max(last, job.total or 0))
        note_deployment(job=job, remote=remote)
        store_remote_adapter(job=job, provider=provider, remote=remote)
        job.succeed(
            fine_tuned_model=remote.fine_tuned_model or job.fine_tuned_model,
            trained_tokens=remote.trained_tokens,
        )
        register_finetuned_model(job=job)
    elif remote.status == "failed":
        remote_error = remote.error
        message = (
            remote_error.message
            if remote_error and remote_error.message
            else "the provider reports it failed"
        )
        where = f" (parameter {remote_error.param})" if remote_error and remote_error.param else ""
        job.fail(
            f"{job.provider_label or job.provider}: {message}{where}",
            error_code=(remote_error.code if remote_error else "") or "failed",
        )
    else:
        job._finish(JobStatus.CANCELLED)
    if job.status == remote.status:
        job.add_timeline(remote.status)


def sync_finetune(*, job: FineTuneJob, provider: Provider) -> bool:
    """Bring the row up to date with the remote job; True once the job has ended.

    Raises the provider's errors: the caller decides whether to retry.
    """
    remote = provider.get_job(job.remote_job_id)
    # Events after the status: if the job has just ended, its last events are included.
    store_events(job, provider.list_events(job.remote_job_id, after=job.last_event_id or None))
    store_checkpoints(job, provider.list_checkpoints(job.remote_job_id))
    apply_remote(job, remote)
    if remote.is_terminal:
        if job.status in ACTIVE_STATUSES:
            finish_from_remote(job, provider, remote)
        return True
    return False


def refresh_finetune(*, job: FineTuneJob) -> bool:
    """Sync now (for a webhook, or after a refused cancel); False if it could not.

    Failures are logged, not raised: the poll chain keeps following the job anyway.
    """
    if not job.remote_job_id or job.status not in ACTIVE_STATUSES or job.is_local:
        # A local job has nothing to follow: its GPU job writes its progress itself.
        return False
    try:
        sync_finetune(job=job, provider=get_provider(job.provider))
    except ProviderError as error:
        logger.warning("fine-tune %s: refresh failed: %s", job.pk, error)
        return False
    return True
