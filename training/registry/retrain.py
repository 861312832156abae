"""Retraining: a version from everything approved, a fine-tune like a chosen job, then an
evaluation of the new model and of production on the new version, and their comparison.

Each step is its own durable job (version build, fine-tune, evaluation runs, comparison) and
shows on its own page; the RetrainRun row drives them. On the workers it checks its current
step every CURATOR_RETRAIN_POLL_SECONDS (rq's scheduler); ``drive_retrain`` runs every step
in this process instead (``manage.py retrain --wait``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from curation.models import AuditEvent, Dataset, DatasetVersion, JobStatus
from curation.services.versions.build import run_build_job
from curation.services.versions.files import VersionError
from curation.services.versions.preview import create_version, normalize_filter
from training.evaluation.models import Comparison, EvalRun
from training.evaluation.services.comparisons import (
    ComparisonError,
    create_comparison,
    run_comparison_job,
)
from training.evaluation.services.runs import EvaluationError, create_eval_run, run_eval_job
from training.models import FineTuneJob
from training.registry.promotion import production_stage
from training.registry.services import UnknownModel, register_finetuned_model, resolve_model
from training.registry.stages import RegistrySettings, RetrainRun, RetrainStep
from training.services.launch import LaunchError, create_finetune_job
from training.services.runner import drive_finetune

logger = logging.getLogger(__name__)

FAILED = (JobStatus.FAILED, JobStatus.CANCELLED)


class RetrainError(ValueError):
    """Retraining cannot start or go on; the message says why."""


def default_judge(dataset: Dataset) -> str:
    """The site's default judge, else the judge of the dataset's latest comparison."""
    if settings.CURATOR_EVAL_JUDGE:
        return str(settings.CURATOR_EVAL_JUDGE)
    latest = (
        Comparison.objects.filter(dataset=dataset, judge__isnull=False)
        .select_related("judge")
        .order_by("-created_at")
        .first()
    )
    return latest.judge.ref if latest and latest.judge else ""


def create_retrain(
    *,
    dataset: Dataset,
    like: FineTuneJob,
    user: Any,
    judge: str | None = None,
    scheduled: bool = False,
    enqueue: bool = True,
) -> RetrainRun:
    if like.dataset_id != dataset.pk:
        raise RetrainError(f"fine-tune job {like.pk} is not a job of {dataset.slug}")
    if RetrainRun.objects.filter(
        dataset=dataset, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).exists():
        raise RetrainError(f"a retraining of {dataset.slug} is already under way")
    chosen_judge = default_judge(dataset) if judge is None else judge
    if chosen_judge:
        try:  # the same resolver the comparison uses later: refused now, not at step 4
            resolve_model(chosen_judge, dataset=dataset)
        except UnknownModel as error:
            raise RetrainError(f"judge: {error}") from None
    with transaction.atomic():
        run = RetrainRun.objects.create(
            dataset=dataset,
            like=like,
            judge=chosen_judge,
            scheduled=scheduled,
            total=4,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        AuditEvent.record(
            actor=user,
            action="model.retrain",
            obj=run,
            dataset=dataset,
            like=like.pk,
            provider=like.provider,
            base_model=like.base_model,
            scheduled=scheduled,
        )
        if enqueue:
            run.enqueue()
    return run


def _move(run: RetrainRun, step: str, done: int, **fields: Any) -> None:
    run.beat(step=step, done=done, **fields)


def _written(row_id: int | None) -> int:
    """The id of a row an earlier step stored on the run (it moved on only once it had)."""
    assert row_id is not None
    return row_id


def _step(run: RetrainRun, *, inline: bool, sleep: Callable[[float], None]) -> bool:
    """Advance as far as possible now; True when the run has finished (either way)."""
    dataset = run.dataset
    if run.step == RetrainStep.VERSION:
        if run.version_id is None:
            try:
                version = create_version(
                    dataset=dataset,
                    user=run.created_by,
                    filter=normalize_filter(),
                    notes=f"Retraining #{run.pk}: everything approved so far",
                    enqueue=not inline,
                )
            except VersionError as error:
                run.fail(f"version: {error}")
                return True
            _move(run, RetrainStep.VERSION, 0, version=version)
            if inline:
                run_build_job(version_id=version.pk)
        version = DatasetVersion.objects.get(pk=_written(run.version_id))
        run.version = version
        if version.status in FAILED:
            run.fail(f"version {version.number} {version.status}: {version.error}")
            return True
        if not version.is_built:
            return False
        _move(run, RetrainStep.FINETUNE, 1)
    if run.step == RetrainStep.FINETUNE:
        run.version = DatasetVersion.objects.get(pk=_written(run.version_id))
        if run.finetune_id is None:
            like = run.like
            try:
                job = create_finetune_job(
                    version=run.version,
                    provider=like.provider,
                    base_model=like.base_model,
                    user=run.created_by,
                    hyperparameters=dict(like.hyperparameters or {}),
                    suffix=like.suffix,
                    seed=like.seed,
                    method=like.method,
                    enqueue=not inline,
                )
            except LaunchError as error:
                run.fail(f"fine-tune: {error}")
                return True
            _move(run, RetrainStep.FINETUNE, 1, finetune=job)
            if inline:
                drive_finetune(job_id=job.pk, sleep=sleep)
        job = FineTuneJob.objects.get(pk=_written(run.finetune_id))
        if job.status in FAILED:
            run.fail(f"fine-tune #{job.pk} {job.status}: {job.error}")
            return True
        if job.status != JobStatus.SUCCEEDED:
            return False
        _move(run, RetrainStep.EVALUATE, 2)
    if run.step == RetrainStep.EVALUATE:
        if run.candidate_run_id is None:
            job = FineTuneJob.objects.get(pk=_written(run.finetune_id))
            candidate = register_finetuned_model(job=job)
            production = production_stage(dataset)
            if candidate is None:
                run.fail(f"fine-tune #{job.pk} produced no model")
                return True
            assert run.version is not None  # written by the version step
            try:
                runs = [
                    create_eval_run(
                        dataset=dataset,
                        version=run.version,
                        model=candidate,
                        judge=run.judge or None,
                        user=run.created_by,
                        enqueue=not inline,
                    )
                ]
                if production is not None and production.model_id != candidate.pk:
                    runs.append(
                        create_eval_run(
                            dataset=dataset,
                            version=run.version,
                            model=production.model,
                            judge=run.judge or None,
                            user=run.created_by,
                            enqueue=not inline,
                        )
                    )
            except EvaluationError as error:
                run.fail(f"evaluation: {error}")
                return True
            _move(
                run,
                RetrainStep.EVALUATE,
                2,
                candidate_run=runs[0],
                production_run=runs[1] if len(runs) > 1 else None,
            )
            if inline:
                for eval_run in runs:
                    run_eval_job(run_id=eval_run.pk)
        runs = list(EvalRun.objects.filter(pk__in=[run.candidate_run_id, run.production_run_id]))
        if any(eval_run.status in FAILED for eval_run in runs):
            run.fail("an evaluation run failed: " + "; ".join(r.error for r in runs if r.error))
            return True
        if any(eval_run.status != JobStatus.SUCCEEDED for eval_run in runs):
            return False
        if run.production_run_id is None:
            _move(run, RetrainStep.DONE, 4)
            run.succeed()
            return True
        _move(run, RetrainStep.COMPARE, 3)
    if run.step == RetrainStep.COMPARE:
        if run.comparison_id is None:
            try:
                comparison = create_comparison(
                    run_a=EvalRun.objects.get(pk=_written(run.production_run_id)),
                    run_b=EvalRun.objects.get(pk=_written(run.candidate_run_id)),
                    judge=run.judge or None,
                    user=run.created_by,
                    enqueue=not inline,
                )
            except ComparisonError as error:
                run.fail(f"comparison: {error}")
                return True
            _move(run, RetrainStep.COMPARE, 3, comparison=comparison)
            if inline and comparison.status == JobStatus.QUEUED:
                run_comparison_job(comparison_id=comparison.pk)
        comparison = Comparison.objects.get(pk=_written(run.comparison_id))
        if comparison.status in FAILED:
            run.fail(f"comparison #{comparison.pk} {comparison.status}: {comparison.error}")
            return True
        if comparison.status != JobStatus.SUCCEEDED:
            return False
        _move(run, RetrainStep.DONE, 4)
        run.succeed()
        return True
    return run.status != JobStatus.RUNNING


def _schedule(run: RetrainRun) -> None:
    queue = django_rq.get_queue(run.queue_name)
    queue.enqueue_in(
        timedelta(seconds=float(settings.CURATOR_RETRAIN_POLL_SECONDS)),
        run.job_function,
        run.pk,
    )


def advance_retrain_job(*, run_id: int) -> RetrainRun:
    """One check on the workers: claim a queued run, advance it, come back later if needed."""
    run = RetrainRun.objects.select_related("dataset", "like", "created_by").get(pk=run_id)
    if run.status == JobStatus.QUEUED and not run.claim():
        return run
    if run.status != JobStatus.RUNNING:
        return run
    # Between checks nothing else beats for this row; each check shows it is alive.
    run.beat()
    finished = run.run_guarded(
        lambda: _step(run, inline=False, sleep=time.sleep),
        unexpected=lambda error: (
            f"unexpected error ({type(error).__name__}: {error}); Retry goes on from here"
        ),
    )
    run.stop_heartbeat()
    if not finished:
        _schedule(run)
    return run


def drive_retrain(
    *, run_id: int, sleep: Callable[[float], None] = time.sleep, max_steps: int = 100000
) -> RetrainRun:
    """Run every step in this process until the retraining ends (``retrain --wait``)."""
    run = RetrainRun.objects.select_related("dataset", "like", "created_by").get(pk=run_id)
    if run.status == JobStatus.QUEUED:
        run.claim()
    for _ in range(max_steps):
        run = RetrainRun.objects.select_related("dataset", "like", "created_by").get(pk=run_id)
        if run.status != JobStatus.RUNNING:
            break
        if run.run_guarded(
            partial(_step, run, inline=True, sleep=sleep),
            unexpected=lambda error: f"unexpected error ({type(error).__name__}: {error})",
        ):
            break
        sleep(float(settings.CURATOR_RETRAIN_POLL_SECONDS))
    run.stop_heartbeat()
    return RetrainRun.objects.get(pk=run_id)


def cli_summary(run: RetrainRun) -> dict[str, Any]:
    return {
        "retrain": run.pk,
        "status": run.status,
        "step": run.step,
        "version": run.version.number if run.version else None,
        "job": run.finetune_id,
        "model": (
            run.finetune.fine_tuned_model or None if run.finetune_id and run.finetune else None
        ),
        "runs": {"candidate": run.candidate_run_id, "production": run.production_run_id},
        "comparison": run.comparison_id,
        "error": run.error or None,
    }


def start_scheduled_retrains() -> int:
    """The weekly schedule: retrain every dataset whose admin chose a job to retrain like and
    whose last retraining is a week old (or never ran)."""
    started = 0
    cutoff = timezone.now() - timedelta(days=7)
    for config in RegistrySettings.objects.filter(
        retrain_weekly=True, retrain_like__isnull=False
    ).select_related("dataset", "retrain_like"):
        latest = RetrainRun.objects.filter(dataset=config.dataset).order_by("-created_at").first()
        if latest is not None and latest.created_at > cutoff:
            continue
        assert config.retrain_like is not None  # retrain_like__isnull=False above
        try:
            create_retrain(
                dataset=config.dataset, like=config.retrain_like, user=None, scheduled=True
            )
        except RetrainError as error:
            logger.info("scheduled retraining of %s skipped: %s", config.dataset.slug, error)
            continue
        started += 1
    return started


SCHEDULE_JOB_ID = "curator-scheduled-retrains"


def ensure_retrain_schedule(*, delay_seconds: float = 60) -> None:
    """Keep one daily check of the weekly schedules on the scheduler (a fixed RQ job id, so
    enabling the schedule twice does not start two)."""
    queue = django_rq.get_queue("default")
    queue.enqueue_in(
        timedelta(seconds=delay_seconds),
        "training.registry.jobs.scheduled_retrains",
        job_id=SCHEDULE_JOB_ID,
    )


def retry_retrain(*, run: RetrainRun, user: Any) -> bool:
    """Put a failed retraining back on the workers; it goes on from the step it stopped at."""
    if not run.retry():
        return False
    AuditEvent.record(actor=user, action="model.retrain_retry", obj=run, dataset=run.dataset)
    return True
