"""Serving a finished hosted fine-tune so it can be evaluated: deploy it where the provider
requires it (and Curator has the rights), check that it answers, and record where on the job
(``artifacts["serving"]``), which the evaluation client reads for the name to call.

Deployments that bill by the hour (Together dedicated endpoints, Fireworks deployments) are
started only where the provider's ``allow_paid_deployments`` (or
``CURATOR_ALLOW_PAID_DEPLOYMENTS``) is on; otherwise the job page says exactly what to create,
and Curator checks it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone

from curation.models import AuditEvent, JobStatus
from training.models import FineTuneJob
from training.providers import ProviderError, get_config, get_provider
from training.providers.base import RemoteJob, Serving
from training.providers.registry import AZURE_CONTROL_SETTINGS, ProviderConfig, azure_control

logger = logging.getLogger(__name__)


class NotServable(ValueError):
    """This job has no trained hosted model to serve; the message says why."""


class NotServed(ValueError):
    """The fine-tune could not be made to answer before an evaluation; the message says
    exactly which deployment to create or which setting to turn on."""


def _remote(job: FineTuneJob) -> RemoteJob:
    if job.is_local:
        raise NotServable("local fine-tunes are evaluated on this installation's GPU workers")
    if job.status != JobStatus.SUCCEEDED or not job.fine_tuned_model:
        raise NotServable("only a succeeded fine-tune has a model to serve")
    return RemoteJob(
        id=job.remote_job_id,
        status="succeeded",
        model=job.base_model,
        training_file=job.remote_training_file,
        created_at=0,
        fine_tuned_model=job.fine_tuned_model,
        hyperparameters=dict(job.resolved_hyperparameters or {}),
    )


def _record(job: FineTuneJob, serving: Serving, *, deployment: str) -> dict[str, Any]:
    config = get_config(job.provider)
    entry = {
        "model": serving.model,
        "state": serving.state,
        "detail": serving.detail,
        "deployment": deployment,
        "endpoint": config.inference_url,
        "checked_at": timezone.now().isoformat(),
    }
    current = FineTuneJob.objects.filter(pk=job.pk).values_list("artifacts", flat=True).first()
    artifacts = {**(current or {}), "serving": entry}
    FineTuneJob.objects.filter(pk=job.pk).update(artifacts=artifacts)
    job.artifacts = artifacts
    return entry


def serving_deploy(
    *,
    job: FineTuneJob,
    user: Any,
    wait: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Deploy (where Curator may) and check the job's model answers; the recorded entry.
    With ``wait`` (seconds), a deployment still coming up is checked again every
    ``CURATOR_SERVING_POLL_SECONDS`` until it answers or the time is up (checking again
    never creates a second deployment). ProviderError when the provider cannot be asked;
    NotServable for a job with no model."""
    remote = _remote(job)
    provider = get_provider(job.provider)
    deadline = time.monotonic() + wait
    while True:
        serving = provider.deploy(remote, name=f"curator-{job.pk}")
        earlier = ((job.artifacts or {}).get("serving") or {}).get("deployment", "")
        entry = _record(job, serving, deployment=serving.deployment or earlier)
        if serving.state != "deploying" or time.monotonic() >= deadline:
            break
        sleep(float(getattr(settings, "CURATOR_SERVING_POLL_SECONDS", 10.0)))
    AuditEvent.record(
        actor=user,
        action="finetune.serve",
        obj=job,
        dataset=job.dataset,
        model=entry["model"],
        state=entry["state"],
        deployment=entry["deployment"],
    )
    return entry


def serving_undeploy(*, job: FineTuneJob, user: Any) -> dict[str, Any]:
    """Remove the deployment Curator created for the job (it stops billing); the entry."""
    _remote(job)
    entry = dict((job.artifacts or {}).get("serving") or {})
    if not entry.get("deployment"):
        raise NotServable("Curator created no deployment for this job")
    provider = get_provider(job.provider)
    provider.undeploy(
        Serving(model=entry["model"], state=entry["state"], deployment=entry["deployment"])
    )
    entry = _record(
        job,
        Serving(
            model=entry["model"],
            state="not_deployed",
            detail=f"deployment {entry['deployment']!r} removed",
        ),
        deployment="",
    )
    AuditEvent.record(actor=user, action="finetune.undeploy", obj=job, dataset=job.dataset)
    return entry


def serving_release_after_evaluation(*, model: Any) -> bool:
    """With ``CURATOR_UNDEPLOY_AFTER_EVALUATION`` on, remove the deployment Curator created for
    ``model``'s fine-tune once an evaluation of it has finished (it bills while it exists);
    True if one was removed. A failure is noted on the job, never on the evaluation."""
    if not getattr(settings, "CURATOR_UNDEPLOY_AFTER_EVALUATION", False):
        return False
    job = getattr(model, "job", None) if getattr(model, "job_id", None) else None
    if job is None or not ((job.artifacts or {}).get("serving") or {}).get("deployment"):
        return False
    try:
        serving_undeploy(job=job, user=None)
    except (NotServable, ProviderError) as error:
        logger.warning("fine-tune %s: removing its deployment failed: %s", job.pk, error)
        job.beat(last_problem=f"Its deployment could not be removed after evaluation: {error}")
        return False
    return True


def needs_serving(config: ProviderConfig) -> bool:
    """Providers that serve a fine-tune only once it is deployed (or checked to answer
    serverless): Together, Fireworks and Azure OpenAI. OpenAI serves every fine-tune by its
    name as soon as it exists."""
    return config.kind in {"together", "fireworks"} or bool(config.options.get("azure"))


def _unserved_reason(config: ProviderConfig, entry: dict[str, Any], *, wait: float) -> str:
    model, deployment = entry.get("model") or "", entry.get("deployment") or ""
    if entry.get("state") == "deploying":
        return (
            f"{config.display_label}: {model} is still deploying after {wait:g}s "
            f"(deployment {deployment!r}; CURATOR_SERVING_WAIT_SECONDS); no example was sent. "
            "Retry checks the same deployment again, it never creates a second one"
        )
    advice = ""
    if config.options.get("azure") and azure_control(config) is None:
        settings_named = ", ".join(AZURE_CONTROL_SETTINGS)
        advice = (
            f"; or give Curator the Azure control-plane settings ({settings_named} and "
            "management_token_env: AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, "
            "AZURE_RESOURCE_NAME, AZURE_MANAGEMENT_TOKEN) so it creates the deployment itself"
        )
    return (
        f"{config.display_label}: {model} does not answer, so no example was sent: "
        f"{entry.get('detail') or 'no reply'}{advice}. Then Retry this evaluation"
    )


def serving_for_evaluation(
    *,
    job: FineTuneJob,
    wait: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | None:
    """Make ``job``'s model answer before an evaluation sends it anything: deploy it where
    the provider requires it (and Curator may), waiting up to ``wait`` seconds
    (``CURATOR_SERVING_WAIT_SECONDS``) for a deployment to come up. The serving entry; None
    for providers that serve every fine-tune as it is. NotServed, saying what to create or
    turn on, when it does not answer (paid deployments not allowed, Azure without the
    control-plane rights, still deploying after the wait) or the provider cannot be asked."""
    if job.is_local:
        return None
    try:
        config = get_config(job.provider)
    except ProviderError as error:
        raise NotServed(str(error)) from None
    if not needs_serving(config):
        return None
    if wait is None:
        wait = float(getattr(settings, "CURATOR_SERVING_WAIT_SECONDS", 1800.0))
    try:
        entry = serving_deploy(job=job, user=None, wait=wait, sleep=sleep)
    except (NotServable, ProviderError) as error:
        raise NotServed(
            f"{config.display_label}: {job.fine_tuned_model or f'fine-tune {job.pk}'} could "
            f"not be served, so no example was sent: {error}"
        ) from None
    if entry["state"] != "answering":
        raise NotServed(_unserved_reason(config, entry, wait=wait))
    return entry


__all__ = [
    "NotServable",
    "NotServed",
    "ProviderError",
    "needs_serving",
    "serving_deploy",
    "serving_for_evaluation",
    "serving_release_after_evaluation",
    "serving_undeploy",
]
