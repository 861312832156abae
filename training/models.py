"""Fine-tune jobs and what they report back: events, per-step metrics, checkpoints.

A FineTuneJob is a durable job row (see curation.models.jobs) on the "training" queue. Its
worker uploads the version's files, creates exactly one job at the provider, then follows
it by scheduled polls (and webhooks) until it ends. The provider may train remotely (OpenAI
and compatible APIs) or itself (local LoRA): nothing here depends on which.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Self
from urllib.parse import urlencode

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timeuntil

from curation.models import ACTIVE_STATUSES, Dataset, DatasetVersion, Job, JobStatus, Role
from curation.models.jobs import JobQuerySet
from training.evaluation.models import *  # noqa: F403  (evaluation runs, comparisons, verdicts)
from training.hyperparameters import LOCAL_HYPERPARAMETERS, relaunch_values
from training.pricing import cost_of_tokens
from training.providers import ProviderNotConfigured, get_config
from training.providers.base import METADATA_TAG as METADATA_TAG
from training.registry.models import *  # noqa: F403  (the model registry)
from training.registry.stages import *  # noqa: F403  (stages, promotions, retraining)

AUTO = "auto"
HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")
# Remote statuses as the OpenAI fine-tuning API names them.
REMOTE_ACTIVE = ("validating_files", "queued", "running", "pausing", "paused")
REMOTE_TERMINAL = ("succeeded", "failed", "cancelled")
# Failures where the provider (or its SDK, or the file check) refused what we sent: a retry
# would send the same settings and files again, so it is refused; a new launch changes them.
REFUSED_AS_SENT = (
    "invalid_settings",
    "invalid_file",
    "invalid_version",
    "invalid_request_error",
    "http_400",
    "http_422",
)
METRIC_FIELDS = (
    "train_loss",
    "valid_loss",
    "full_valid_loss",
    "train_mean_token_accuracy",
    "valid_mean_token_accuracy",
    "full_valid_mean_token_accuracy",
)
TIMELINE_LABELS = {
    "queued": "Queued",
    "uploading": "Uploading files",
    "uploaded": "Files uploaded",
    "created": "Job created at the provider",
    "validating_files": "Provider validating files",
    "remote_queued": "Queued at the provider",
    "gpu_queued": "Waiting for a GPU worker",
    "running": "Training",
    "pausing": "Pausing",
    "paused": "Paused",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "cancel_requested": "Cancel requested",
}


class FineTuneMethod(models.TextChoices):
    SUPERVISED = "supervised", "Supervised"
    DPO = "dpo", "Preference (DPO)"


def usd(amount: Decimal | None) -> str:
    """Dollars for a person: cents from a dollar up, four places below (tiny test runs)."""
    if amount is None:
        return "—"
    return f"${amount:,.2f}" if amount >= 1 or amount == 0 else f"${amount:.4f}"


def local_labels() -> dict[str, str]:
    return {**LOCAL_HYPERPARAMETERS, "seed": "Seed"}


def from_epoch(value: int | float | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


class FineTuneJobQuerySet(JobQuerySet):
    def for_dataset(self, dataset: Dataset) -> FineTuneJobQuerySet:
        return self.filter(dataset=dataset)

    def administered_by(self, user: Any) -> FineTuneJobQuerySet:
        """Jobs of the datasets where `user` is an admin (training is an admin matter)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(dataset__memberships__user=user, dataset__memberships__role=Role.ADMIN)

    def stale(self) -> Self:
        # Between scheduled polls no worker holds the row, so silence is expected until the
        # next check is due: a row is lost only when that check is overdue too.
        limit = timezone.now() - timedelta(seconds=settings.CURATOR_JOB_HEARTBEAT_TIMEOUT)
        return super().stale().filter(Q(next_check_at__isnull=True) | Q(next_check_at__lt=limit))


class FineTuneJob(Job):
    job_function = "training.jobs.run_finetune"
    queue_name = "training"

    # Tags the remote job; not the pk, which a reset database would hand out again.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="finetune_jobs")
    version = models.ForeignKey(
        DatasetVersion, on_delete=models.CASCADE, related_name="finetune_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # What was asked for.
    provider = models.CharField(max_length=64)
    # Copied at launch so the page still says what ran if the settings change later.
    provider_label = models.CharField(max_length=200, blank=True)
    provider_is_simulator = models.BooleanField(default=False)
    # The provider's kind at launch: "local" jobs train on a GPU worker of ours, not remotely.
    provider_kind = models.CharField(max_length=16, blank=True)
    base_model = models.CharField(max_length=200)
    method = models.CharField(
        max_length=32, choices=FineTuneMethod.choices, default=FineTuneMethod.SUPERVISED
    )
    # {"n_epochs": "auto" | int, "batch_size": "auto" | int, "learning_rate_multiplier": "auto" | float}
    hyperparameters = models.JSONField(default=dict, blank=True)
    suffix = models.CharField(max_length=64, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)

    # Estimates made at launch from the version's token counts and the provider's price.
    estimated_epochs = models.PositiveIntegerField(null=True, blank=True)
    estimated_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)

    # What the provider told us; each id is stored the moment it is known.
    remote_training_file = models.CharField(max_length=200, blank=True)
    remote_validation_file = models.CharField(max_length=200, blank=True)
    remote_job_id = models.CharField(max_length=200, blank=True, db_index=True)
    remote_status = models.CharField(max_length=32, blank=True)
    resolved_hyperparameters = models.JSONField(default=dict, blank=True)
    fine_tuned_model = models.CharField(max_length=300, blank=True)
    trained_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    estimated_finish = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True)

    # Following: the poll chain that owns the row, when it looks next, how it fares.
    chain = models.CharField(max_length=32, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    transient_failures = models.PositiveIntegerField(default=0)
    last_problem = models.TextField(blank=True)
    last_event_id = models.CharField(max_length=200, blank=True)
    # [{"status": key, "at": ISO time}], appended as the job moves on.
    timeline = models.JSONField(default=list, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    # Local training only. What it left in storage: {"adapter": prefix, "files": [{"name",
    # "size"}], "merged": prefix or None, "model_card": name}; and replies of the trained
    # model to a few validation prompts: [{"prompt": [messages], "reference", "generated"}].
    artifacts = models.JSONField(default=dict, blank=True)
    samples = models.JSONField(default=list, blank=True)

    # Job declares `objects`; django-stubs wants a ClassVar override, which an as_manager()
    # type cannot be spelled as (https://github.com/typeddjango/django-stubs/issues/1713).
    objects = FineTuneJobQuerySet.as_manager()  # type: ignore[misc]

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dataset", "-created_at"])]

    def __str__(self) -> str:
        return f"Fine-tune #{self.pk} of {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("finetune_detail", args=[self.dataset.slug, self.pk])

    # -- reading -----------------------------------------------------------------------
    @property
    def can_retry(self) -> bool:
        """A failed launch, or a job we lost track of; not one the provider itself ended."""
        lost = self.status == JobStatus.FAILED or self.is_lost or self.queued_long
        return (
            lost
            and self.remote_status not in REMOTE_TERMINAL
            and self.error_code not in REFUSED_AS_SENT
        )

    @property
    def refused_as_sent(self) -> bool:
        """The provider refused these settings or files: only a changed launch can help."""
        return self.status == JobStatus.FAILED and self.error_code in REFUSED_AS_SENT

    @property
    def can_cancel(self) -> bool:
        return self.is_active

    @property
    def is_local(self) -> bool:
        return self.provider_kind == "local"

    @property
    def no_checkpoints_text(self) -> str:
        """What the job page says where a finished job has no checkpoints."""
        if self.provider_kind == "fireworks":
            # fireworks-ai 1.2.30 has no call that lists a fine-tuning job's intermediate
            # checkpoints (its SupervisedFineTuningJob and DpoJob resources offer create, get,
            # list, cancel, delete, resume; DPO its metrics file), only the final model's files
            # (models.get_download_endpoint).
            return (
                "None: Fireworks' API lists no intermediate checkpoints of a fine-tuning job; "
                "only the final model's files can be downloaded."
            )
        return "None: the provider reported no checkpoints for this job."

    @property
    def kind(self) -> str:
        """How the job trains: "local" on our GPU workers, "remote" at a hosted provider."""
        return "local" if self.is_local else "remote"

    @property
    def hyperparameter_rows(self) -> list[tuple[str, Any, Any]]:
        """(name, asked, resolved by the provider) for each hyperparameter."""
        labels = {
            "n_epochs": "Epochs",
            "batch_size": "Batch size",
            "learning_rate_multiplier": "Learning-rate multiplier",
            **local_labels(),
        }
        names: list[str] = list(HYPERPARAMETERS) + [
            key
            for key in {**self.hyperparameters, **self.resolved_hyperparameters}
            if key not in HYPERPARAMETERS
        ]
        return [
            (
                labels.get(name, name),
                self.hyperparameters.get(name, AUTO),
                self.resolved_hyperparameters.get(name),
            )
            for name in names
        ]

    @property
    def timeline_rows(self) -> list[dict[str, Any]]:
        rows = []
        for entry in self.timeline or []:
            at = entry.get("at")
            rows.append(
                {
                    "status": entry.get("status", ""),
                    "label": TIMELINE_LABELS.get(entry.get("status", ""), entry.get("status", "")),
                    "at": datetime.fromisoformat(at) if at else None,
                }
            )
        return rows

    @property
    def relaunch_query(self) -> str:
        """The launch form's query string for a new job with these settings."""
        params: dict[str, Any] = {
            "version": self.version.number,
            "provider": self.provider,
            "base_model": self.base_model,
            "method": self.method,
            **{name: self.hyperparameters.get(name, AUTO) for name in HYPERPARAMETERS},
            "suffix": self.suffix,
        }
        if self.is_local:
            params.update(relaunch_values(self.hyperparameters))
        elif self.provider_kind in {"together", "fireworks"}:
            # The launch form's Together / Fireworks fields, named apart from the local ones.
            for key in ("learning_rate", "lora_rank", "lora_alpha", "max_seq_length"):
                if key in self.hyperparameters:
                    params[f"hosted_{key}"] = self.hyperparameters[key]
            if "dpo_beta" in self.hyperparameters:
                params["dpo_beta"] = self.hyperparameters["dpo_beta"]
            if self.hyperparameters.get("lora") is False:
                params["full_training"] = "on"
        if self.seed is not None:
            params["seed"] = self.seed
        return urlencode(params)

    def curve(self, *, max_points: int = 2000) -> dict[str, list[Any]]:
        """Loss per step for the chart, thinned evenly past ``max_points`` steps."""
        rows = list(
            self.metrics.order_by("step").values_list(
                "step", "train_loss", "valid_loss", "full_valid_loss"
            )
        )
        if len(rows) > max_points:
            stride = math.ceil(len(rows) / max_points)
            rows = rows[::stride] + ([rows[-1]] if (len(rows) - 1) % stride else [])
        return {
            "steps": [row[0] for row in rows],
            "train_loss": [row[1] for row in rows],
            "valid_loss": [row[2] for row in rows],
            "full_valid_loss": [row[3] for row in rows],
        }

    def metric_table(self, *, rows: int = 20) -> list[FineTuneMetric]:
        """About ``rows`` metric rows spread over the run (always the last), for the table
        that stands in for the chart without JavaScript."""
        steps = list(self.metrics.order_by("step").values_list("step", flat=True))
        if len(steps) > rows:
            stride = math.ceil(len(steps) / rows)
            steps = sorted({*steps[::stride], steps[-1]})
        return list(self.metrics.filter(step__in=steps).order_by("step"))

    @property
    def finish_eta_text(self) -> str:
        """ "in about 12 minutes", "within a minute", or "" when there is no estimate (never
        "about 0 minutes")."""
        eta = self.finish_eta
        if eta is None:
            return ""
        if eta - timezone.now() < timedelta(seconds=60):
            return "within a minute"
        return f"in about {timeuntil(eta)}"

    @property
    def finish_eta(self) -> datetime | None:
        """When a running job should end: the provider's estimate while it is still ahead,
        else the pace so far (steps done since training started) projected to the last
        step. None when neither says anything useful, so the page never claims "now"
        while steps remain."""
        if not self.is_active:
            return None
        now = timezone.now()
        if self.estimated_finish and self.estimated_finish > now + timedelta(seconds=30):
            return self.estimated_finish
        started = next(
            (row["at"] for row in self.timeline_rows if row["status"] == "running" and row["at"]),
            None,
        )
        if started is None or not self.total or not self.done or self.done >= self.total:
            return None
        elapsed = (now - started).total_seconds()
        remaining = elapsed * (self.total - self.done) / self.done
        return now + timedelta(seconds=max(remaining, 30))

    @property
    def adapter_files(self) -> list[dict[str, Any]]:
        """The trained adapter's files in storage (local runs, Together downloads)."""
        return list((self.artifacts or {}).get("files") or [])

    @property
    def uploads(self) -> dict[str, dict[str, Any]]:
        """Per version file, what converting it for the provider did (lines sent, fields
        mapped, lines left out and why); empty where the file went as it was."""
        return dict((self.artifacts or {}).get("uploads") or {})

    def record_upload(self, name: str, summary: dict[str, Any]) -> None:
        """Keep what converting ``name`` for the provider did (see ``uploads``)."""
        current = type(self).objects.filter(pk=self.pk).values_list("artifacts", flat=True)
        artifacts = dict(current.first() or {})
        artifacts["uploads"] = {**(artifacts.get("uploads") or {}), name: summary}
        type(self).objects.filter(pk=self.pk).update(artifacts=artifacts)
        self.artifacts = artifacts

    @property
    def estimated_cost_text(self) -> str:
        return usd(self.estimated_cost)

    @property
    def actual_cost_text(self) -> str:
        return usd(self.actual_cost())

    def actual_cost(self) -> Decimal | None:
        """List-price cost of the tokens the provider reports as trained."""
        if self.trained_tokens is None:
            return None
        try:
            config = get_config(self.provider)
        except ProviderNotConfigured:
            return None
        full = (self.hyperparameters or {}).get("lora") is False
        return cost_of_tokens(
            config,
            self.base_model,
            self.trained_tokens,
            method="dpo" if self.method == FineTuneMethod.DPO else "supervised",
            training_type="full" if full else "lora",
        )

    # -- writing -----------------------------------------------------------------------
    def _finish(self, status: str, **fields: Any) -> None:
        # Conditional: a cancel, or another worker's verdict, that landed first stands.
        values = {"status": status, "finished_at": timezone.now(), "next_check_at": None, **fields}
        if type(self).objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES).update(**values):
            for name, value in values.items():
                setattr(self, name, value)
        else:
            self.refresh_from_db()

    def retry(self) -> bool:
        """Queue a failed launch (or a job we lost track of) again; it resumes where it
        stopped: stored file ids are reused and a created remote job is followed. Lost work
        (a dead worker, a vanished task) is marked first, without waiting for the periodic run."""
        type(self).objects.filter(pk=self.pk).mark_lost()
        reset = (
            type(self)
            .objects.retryable()
            .filter(pk=self.pk)
            .exclude(remote_status__in=REMOTE_TERMINAL)
            .exclude(error_code__in=REFUSED_AS_SENT)
            .update(
                status=JobStatus.QUEUED,
                error="",
                error_code="",
                last_problem="",
                finished_at=None,
                next_check_at=None,
                transient_failures=0,
            )
        )
        if reset:
            self.refresh_from_db()
            self.enqueue()
        return bool(reset)

    def add_timeline(self, status: str) -> None:
        """Append a step unless it is already the last one (syncs may repeat)."""
        for _ in range(5):
            current = (
                type(self).objects.filter(pk=self.pk).values_list("timeline", flat=True).first()
            )
            timeline = list(current or [])
            if timeline and timeline[-1].get("status") == status:
                break
            timeline.append({"status": status, "at": timezone.now().isoformat()})
            # Conditional on the list just read: of two syncs racing, one appends and the
            # other reads again and finds the step already there.
            if (
                type(self)
                .objects.filter(pk=self.pk, timeline=current or [])
                .update(timeline=timeline)
            ):
                break
        self.timeline = timeline


class FineTuneEvent(models.Model):
    """One event a provider reported for a job, stored once (unique remote id per job)."""

    job = models.ForeignKey(FineTuneJob, on_delete=models.CASCADE, related_name="events")
    remote_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(null=True, blank=True)
    level = models.CharField(max_length=16, default="info")
    type = models.CharField(max_length=32, default="message")
    message = models.TextField(blank=True)
    # For metrics events: step, train_loss, valid_loss, train_mean_token_accuracy, …
    data = models.JSONField(default=dict, blank=True)
    step = models.PositiveIntegerField(null=True, blank=True)
    stored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "remote_id"], name="unique_finetune_event")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} {self.level}: {self.message[:60]}"


class FineTuneMetric(models.Model):
    """Metrics at one training step: from metrics events while training, then replaced
    by the provider's result file (the complete record) once the job succeeds."""

    job = models.ForeignKey(FineTuneJob, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    train_loss = models.FloatField(null=True, blank=True)
    valid_loss = models.FloatField(null=True, blank=True)
    full_valid_loss = models.FloatField(null=True, blank=True)
    train_mean_token_accuracy = models.FloatField(null=True, blank=True)
    valid_mean_token_accuracy = models.FloatField(null=True, blank=True)
    full_valid_mean_token_accuracy = models.FloatField(null=True, blank=True)
    # Everything the provider reported for the step, including keys not named above.
    data = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=16, default="event")  # "event" or "result"

    class Meta:
        ordering = ["step"]
        constraints = [
            models.UniqueConstraint(fields=["job", "step"], name="unique_finetune_metric_step")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} step {self.step}"


class FineTuneCheckpoint(models.Model):
    job = models.ForeignKey(FineTuneJob, on_delete=models.CASCADE, related_name="checkpoints")
    remote_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(null=True, blank=True)
    step = models.PositiveIntegerField()
    fine_tuned_model_checkpoint = models.CharField(max_length=300, blank=True)
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["step", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "remote_id"], name="unique_finetune_checkpoint")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} checkpoint at step {self.step}"
