"""Stages of models per dataset (candidate, canary, production, archived), the timeline of
promotions and rollbacks, the admin's thresholds, and retraining runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from curation.models import Dataset, DatasetVersion, Job

__all__ = [
    "MAX_GATE_LEVEL",
    "MIN_GATE_EXAMPLES",
    "ModelStage",
    "RegistrySettings",
    "RetrainRun",
    "RetrainStep",
    "StageAction",
    "StageEvent",
    "StageName",
]


# Bounds of the gate settings (one owner: the form, the command and the checks read these).
MAX_GATE_LEVEL = 0.2
MIN_GATE_EXAMPLES = 10


class StageName(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    CANARY = "canary", "Canary"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class ModelStage(models.Model):
    """Where a model stands for one dataset. At most one production and one canary each."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="model_stages")
    model = models.ForeignKey("training.Model", on_delete=models.CASCADE, related_name="stages")
    stage = models.CharField(max_length=16, choices=StageName.choices)
    # Share of traffic a canary gets (0 < fraction < 1); null for other stages.
    fraction = models.FloatField(null=True, blank=True)
    since = models.DateTimeField()
    # How many of the canary's sequential feedback checks have been made (each spends part
    # of the false-rollback rate; see training.evaluation.stats.canary_look_level).
    canary_looks = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["dataset", "stage", "-since"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "model"], name="one_stage_per_model"),
            models.UniqueConstraint(
                fields=["dataset"],
                condition=Q(stage="production"),
                name="one_production_model_per_dataset",
            ),
            models.UniqueConstraint(
                fields=["dataset"], condition=Q(stage="canary"), name="one_canary_per_dataset"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} is {self.stage} for {self.dataset_id}"


class StageAction(models.TextChoices):
    PROMOTE = "promote", "Promoted to production"
    ROLLBACK = "rollback", "Rolled back"
    CANARY_START = "canary_start", "Canary started"
    CANARY_STOP = "canary_stop", "Canary stopped"
    CANARY_ROLLBACK = "canary_rollback", "Canary rolled back automatically"


class StageEvent(models.Model):
    """One line of a dataset's registry timeline (the audit log has the same, in general)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="stage_events")
    action = models.CharField(max_length=32, choices=StageAction.choices)
    # The model production (or the canary) now is; `previous` what it was before.
    model = models.ForeignKey(
        "training.Model", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous = models.ForeignKey(
        "training.Model", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comparison = models.ForeignKey(
        "training.Comparison", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    forced = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    # The gate's numbers (win rates, intervals, metric deltas) or the canary's feedback rates.
    details = models.JSONField(default=dict, blank=True)
    fraction = models.FloatField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The outgoing webhook's delivery: tries so far, the last error, and when it gave up
    # (shown on the registry's timeline to the dataset's admins).
    webhook_attempts = models.PositiveSmallIntegerField(default=0)
    webhook_error = models.TextField(blank=True)
    webhook_failed_at = models.DateTimeField(null=True, blank=True)
    webhook_delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dataset", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.model}"


class RegistrySettings(models.Model):
    """What a dataset admin sets for the production loop (all optional)."""

    dataset = models.OneToOneField(
        Dataset, on_delete=models.CASCADE, related_name="registry_settings"
    )
    # The canary is rolled back when its negative-feedback rate exceeds production's by more
    # than this (the lower end of the 95 % interval of the difference), once it has
    # `canary_min_feedback` rated conversations.
    canary_max_excess = models.FloatField(null=True, blank=True, default=0.05)
    canary_min_feedback = models.PositiveIntegerField(default=30)
    # The chance of rolling back a canary that is not worse than that, over all its checks.
    canary_false_rollback_rate = models.FloatField(default=0.05)
    # Dashboard warnings: share of recent production prompts with no near-duplicate in the
    # training version, and share of rated conversations that got a thumbs down.
    novelty_threshold = models.FloatField(null=True, blank=True)
    negative_feedback_threshold = models.FloatField(null=True, blank=True)
    # The gate's pre-registered test: the one kind of evidence promotion reads ("judge",
    # "people" or "metric:<name>"), its one-sided level, and the fewest examples it decides on.
    gate_evidence = models.CharField(max_length=64, default="judge")
    gate_level = models.FloatField(default=0.05)
    gate_min_examples = models.PositiveIntegerField(default=30)
    # How many days of ingested conversations the drift page compares, and how many recent
    # conversations it needs before it warns (one conversation is not "100 % novel").
    drift_window_days = models.PositiveIntegerField(default=30)
    drift_min_sample = models.PositiveIntegerField(default=50)
    # Weekly retraining like this job (None: no schedule).
    retrain_like = models.ForeignKey(
        "training.FineTuneJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retrain_weekly = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Registry settings of {self.dataset_id}"

    @classmethod
    def for_dataset(cls, dataset: Dataset) -> RegistrySettings:
        """The dataset's settings, or the defaults (unsaved) when it has none."""
        return cls.objects.filter(dataset=dataset).first() or cls(dataset=dataset)

    @property
    def gate(self) -> dict[str, Any]:
        """The pre-registered gate test, as a comparison records it when it is made."""
        return {
            "evidence": self.gate_evidence,
            "level": self.gate_level,
            "min_examples": self.gate_min_examples,
        }


class RetrainStep(models.TextChoices):
    VERSION = "version", "Build a version"
    FINETUNE = "finetune", "Fine-tune"
    EVALUATE = "evaluate", "Evaluate against production"
    COMPARE = "compare", "Compare with production"
    DONE = "done", "Done"


class RetrainRun(Job):
    """Retraining: a version from everything approved, a fine-tune like an earlier job, then
    an evaluation against production. Each step is its own job; this row drives them."""

    job_function = "training.registry.jobs.advance_retrain"
    queue_name = "default"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="retrain_runs")
    like = models.ForeignKey(
        "training.FineTuneJob", on_delete=models.PROTECT, related_name="retrains_like"
    )
    step = models.CharField(max_length=16, choices=RetrainStep.choices, default="version")
    version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finetune = models.ForeignKey(
        "training.FineTuneJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    candidate_run = models.ForeignKey(
        "training.EvalRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    production_run = models.ForeignKey(
        "training.EvalRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comparison = models.ForeignKey(
        "training.Comparison", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The judge REF for the comparison with production (empty: people compare, blind).
    judge = models.CharField(max_length=300, blank=True)
    scheduled = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Retrain #{self.pk} of {self.dataset_id}"

    def get_absolute_url(self) -> str:
        return reverse("retrain_detail", args=[self.dataset.slug, self.pk])
