"""Launching a fine-tune: check a version against the provider's rules, estimate, queue.

Everything a launch needs is checked here, in the web request (or the CLI), before any
byte is sent: a person sees what fails and why. The worker checks the files' sha256 again
as it reads them for upload.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from curation.models import (
    AuditEvent,
    DatasetVersion,
    JobStatus,
)
from training.hyperparameters import clean_local_hyperparameters
from training.models import AUTO, FineTuneJob, FineTuneMethod
from training.providers import (
    ProviderError,
    TransientProviderError,
    get_local_backend,
    get_provider,
)
from training.services.launch_checks import (
    DPO_KINDS,
    HOSTED_EXTRA_KINDS,
    _provider_settings_problems,
    check_launch,
    clean_hosted_hyperparameters,
    clean_hyperparameters,
    method_version_problem,
)
from training.services.sync import refresh_finetune
from training.services.version_files import LaunchError

logger = logging.getLogger(__name__)


def _training_type_of(raw: dict[str, Any]) -> dict[str, Any]:
    """Only whether full fine-tuning was asked for, so the estimate prices the right row."""
    return (
        {"lora": False}
        if raw.get("lora") is False
        or str(raw.get("full_training") or "").strip().lower() in {"on", "true", "1", "yes"}
        else {}
    )


def create_finetune_job(
    *,
    version: DatasetVersion,
    provider: str,
    base_model: str,
    user: Any,
    hyperparameters: dict[str, Any] | None = None,
    suffix: str = "",
    seed: int | None = None,
    method: str = FineTuneMethod.SUPERVISED,
    enqueue: bool = True,
) -> FineTuneJob:
    """Check everything, then store the job and queue it; LaunchError lists what fails."""
    try:
        cleaned = clean_hyperparameters(hyperparameters or {})
    except ValueError as error:
        raise LaunchError([str(error)]) from None
    if method not in FineTuneMethod.values:
        raise LaunchError([f"method {method!r} is not supported (use supervised or dpo)"])
    check = check_launch(
        version=version,
        provider=provider,
        base_model=base_model,
        hyperparameters={**cleaned, **_training_type_of(hyperparameters or {})},
        verify_files=True,
        method=method,
    )
    if not check.ok:
        raise LaunchError(check.problems)
    assert check.config is not None
    if method == FineTuneMethod.DPO and check.config.kind not in DPO_KINDS:
        raise LaunchError(
            [
                f"{check.config.display_label} does not offer DPO here; "
                "use an OpenAI-compatible provider, Together or Fireworks"
            ]
        )
    method_problem = method_version_problem(method=method, version=version)
    if method_problem:
        raise LaunchError([method_problem])
    if check.config.kind in HOSTED_EXTRA_KINDS:
        try:
            cleaned = {**cleaned, **clean_hosted_hyperparameters(hyperparameters or {})}
        except ValueError as error:
            raise LaunchError([str(error)]) from None
    if method == FineTuneMethod.DPO and "dpo_beta" not in cleaned:
        try:
            beta = clean_hosted_hyperparameters(
                {"dpo_beta": (hyperparameters or {}).get("dpo_beta")}
            )
        except ValueError as error:
            raise LaunchError([str(error)]) from None
        cleaned = {**cleaned, **beta}
    if not check.is_local:
        settings_problems = _provider_settings_problems(
            config=check.config,
            base_model=base_model,
            hyperparameters=cleaned,
            method=method,
            seed=seed,
            validation=bool(version.validation_examples),
        )
        if settings_problems:
            raise LaunchError(settings_problems)
    if check.is_local:
        try:
            cleaned = {**cleaned, **clean_local_hyperparameters(hyperparameters or {})}
        except ValueError as error:
            raise LaunchError([str(error)]) from None
        if method == FineTuneMethod.DPO:
            if int((hyperparameters or {}).get("gpus") or 1) > 1:
                raise LaunchError(["local DPO runs on one GPU: leave GPUs at 1"])
            if "gpus" in cleaned:
                cleaned["gpus"] = 1  # whatever the site's default for supervised runs
        if cleaned["learning_rate_multiplier"] != AUTO:
            raise LaunchError(
                [
                    "the local trainer takes an absolute learning rate, not a multiplier: "
                    "leave the multiplier at auto"
                ]
            )
    with transaction.atomic():
        job = FineTuneJob.objects.create(
            dataset=version.dataset,
            version=version,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            provider=check.config.name,
            provider_label=check.config.display_label,
            provider_is_simulator=check.config.is_simulator,
            provider_kind=check.config.kind,
            base_model=base_model,
            method=method,
            hyperparameters=cleaned,
            suffix=suffix.strip(),
            seed=seed,
            estimated_epochs=check.epochs,
            estimated_tokens=check.billed_tokens,
            estimated_cost=check.cost,
            timeline=[{"status": "queued", "at": timezone.now().isoformat()}],
        )
        AuditEvent.record(
            actor=user,
            action="finetune.launch",
            obj=job,
            dataset=version.dataset,
            version=version.number,
            provider=job.provider,
            base_model=base_model,
            hyperparameters=cleaned,
            suffix=job.suffix,
            seed=seed,
            estimated_cost=str(check.cost) if check.cost is not None else None,
        )
        if enqueue:
            job.enqueue()
    return job


def cancel_finetune(*, job: FineTuneJob, user: Any) -> tuple[bool, str]:
    """Cancel at the provider (if a remote job exists) and here; (done, what happened).

    A transient provider failure changes nothing here, so the person can simply try again.
    A job still uploading is marked cancelled at once; the worker checks that mark under a
    row lock before it creates the remote job, and cancels one it created meanwhile.
    """
    job.refresh_from_db()
    if not job.is_active:
        return False, f"This job is already {job.get_status_display().lower()}."
    remote_cancelled = False
    if job.remote_job_id:
        try:
            _cancel_remote(job)
            remote_cancelled = True
        except TransientProviderError as error:
            return False, f"Could not reach the provider to cancel ({error}); try again."
        except ProviderError as error:
            # Most often the job ended at the provider meanwhile; the next sync shows how.
            refresh_finetune(job=job)
            job.refresh_from_db()
            if not job.is_active:
                return False, f"The provider had already ended this job: {error}"
            return False, f"The provider refused to cancel: {error}"
    FineTuneJob.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())
    cancelled = job.cancel()
    if cancelled:
        job.add_timeline("cancelled")
        FineTuneJob.objects.filter(pk=job.pk).update(next_check_at=None)
    remote_failure = ""
    if cancelled and job.remote_job_id and not remote_cancelled:
        # The worker created the remote job while we were marking the row cancelled.
        try:
            _cancel_remote(job)
            remote_cancelled = True
        except ProviderError as error:
            logger.exception("fine-tune %s: cancelling remote job %s", job.pk, job.remote_job_id)
            remote_failure = str(error)
    AuditEvent.record(
        actor=user,
        action="finetune.cancel",
        obj=job,
        dataset=job.dataset,
        remote_job_id=job.remote_job_id,
        cancelled=cancelled,
    )
    if not cancelled:
        return False, f"This job is already {job.get_status_display().lower()}."
    if remote_failure:
        return True, (
            f"Cancelled here, but telling the provider to stop job {job.remote_job_id} failed "
            f"({remote_failure}): it may still run and bill; cancel it at the provider."
        )
    return True, "Cancelled." + (" The provider was told to stop." if remote_cancelled else "")


def _cancel_remote(job: FineTuneJob) -> None:
    """Stop the job where it runs: at its provider, or on the GPU queue for a local job."""
    if job.is_local:
        get_local_backend(job.provider).cancel(job.remote_job_id)
    else:
        get_provider(job.provider).cancel(job.remote_job_id)


def retry_finetune(*, job: FineTuneJob, user: Any) -> bool:
    """Queue a failed launch again; it resumes with the files and remote job it has."""
    if not job.retry():
        return False
    job.add_timeline("queued")
    AuditEvent.record(
        actor=user, action="finetune.retry", obj=job, dataset=job.dataset, attempts=job.attempts
    )
    return True


def cli_summary(job: FineTuneJob) -> dict[str, Any]:
    """The ``manage.py finetune --json`` contract (DESIGN.md)."""
    summary: dict[str, Any] = {
        "job": job.pk,
        "status": job.status,
        "remote_job_id": job.remote_job_id,
        "fine_tuned_model": job.fine_tuned_model,
        "adapter": (job.artifacts or {}).get("adapter") or None,
    }
    if job.status == JobStatus.FAILED:
        summary["error"] = job.error
        summary["error_code"] = job.error_code
    return summary
