"""Evaluation runs, their per-example outputs, comparisons, verdicts and judge pre-scores.

An EvalRun is a durable job row: one model, one eval set (a version's split) and generation
settings. Each example's output is stored once (unique per run and position), so a retry of
a run whose worker died generates only what is missing. A Comparison pits two runs on the
same eval set: the judge's pairwise verdicts (asked twice, sides swapped) and people's blind
verdicts on BlindPairs, handed out with the same lease discipline as the review queue.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from curation.models import Dataset, DatasetVersion, Job, JobStatus
from curation.models.jobs import JobQuerySet
from training.evaluation import checks  # noqa: F401  (registers the evaluation settings checks)

__all__ = [
    "BlindPair",
    "BlindSkip",
    "Comparison",
    "EvalExample",
    "EvalRun",
    "ExampleStatus",
    "HumanChoice",
    "HumanVerdict",
    "JudgeVerdict",
    "PreScore",
    "PreScoreRun",
    "Winner",
]

EVAL_QUEUE = "eval"
LOCAL_QUEUE = "training-gpu"


class ExampleStatus(models.TextChoices):
    OK = "ok", "Scored"
    FAILED = "failed", "Failed"


class Winner(models.TextChoices):
    A = "a", "A better"
    B = "b", "B better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


class HumanChoice(models.TextChoices):
    LEFT = "left", "Left better"
    RIGHT = "right", "Right better"
    TIE = "tie", "Tie (both fine)"
    BOTH_BAD = "both_bad", "Both bad"


class EvalRunQuerySet(JobQuerySet):
    def for_dataset(self, dataset: Dataset) -> EvalRunQuerySet:
        return self.filter(dataset=dataset)


class EvalRun(Job):
    job_function = "training.evaluation.jobs.run_evaluation"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="eval_runs")
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="eval_runs")
    split = models.CharField(max_length=16, default="validation")
    model = models.ForeignKey("training.Model", on_delete=models.PROTECT, related_name="eval_runs")
    judge = models.ForeignKey(
        "training.Model", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(default=512)
    seed = models.BigIntegerField(null=True, blank=True, default=0)
    concurrency = models.PositiveIntegerField(default=8)
    limit = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Where it was sent (for the error that names a down endpoint) and whether the
    # replies came from the bundled simulator (labelled as such everywhere).
    endpoint_url = models.CharField(max_length=500, blank=True)
    is_simulated = models.BooleanField(default=False)
    judge_prompt_version = models.CharField(max_length=64, blank=True)
    judge_prompt = models.TextField(blank=True)
    examples = models.PositiveIntegerField(default=0)
    scored = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # Aggregates over the examples (see evaluation.metrics.run_metrics).
    metrics = models.JSONField(default=dict, blank=True)

    # Job declares `objects`; django-stubs wants a ClassVar override, which an as_manager()
    # type cannot be spelled as (https://github.com/typeddjango/django-stubs/issues/1713).
    objects = EvalRunQuerySet.as_manager()  # type: ignore[misc]

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dataset", "-created_at"])]

    def __str__(self) -> str:
        return f"Evaluation #{self.pk}: {self.model} on {self.version} {self.split}"

    @property
    def queue_name(self) -> str:  # type: ignore[override]  # per row: local models go to the GPU queue
        # Local models generate on the GPU workers, never in a web or eval process.
        return LOCAL_QUEUE if self.model.is_local else EVAL_QUEUE

    def get_absolute_url(self) -> str:
        return reverse("eval_run_detail", args=[self.dataset.slug, self.pk])

    @property
    def eval_set(self) -> str:
        return f"v{self.version.number} {self.split}"

    @property
    def outcome(self) -> str:
        """The status as a reader needs it: "partial" is a run that finished with some
        examples failed (they count as its losses in comparisons)."""
        if self.status == JobStatus.SUCCEEDED and self.failed:
            return "partial"
        return str(self.status)

    def retry(self) -> bool:
        """Queue a failed run again: it generates only the examples without an output. Lost
        work (a dead worker, a vanished task) is marked first, without waiting for the periodic
        run."""
        type(self).objects.filter(pk=self.pk).mark_lost()
        reset = (
            type(self)
            .objects.retryable()
            .filter(pk=self.pk)
            .update(status=JobStatus.QUEUED, error="", finished_at=None)
        )
        if reset:
            self.refresh_from_db()
            self.enqueue()
        return bool(reset)


class EvalExample(models.Model):
    """One example of a run: prompt, reference, the model's output (stored once), scores."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="outputs")
    position = models.PositiveIntegerField()  # line number in the split's file, from 0
    # sha256 of the example's line: how two runs on the same eval set pair their examples.
    key = models.CharField(max_length=64)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    prompt = models.JSONField(default=list)
    tools = models.JSONField(null=True, blank=True)
    reference = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=ExampleStatus.choices)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    latency_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.FloatField(null=True, blank=True)
    # {"exact_match": 0/1, "rouge_l": f, "length_ratio": f, "tool_call": 0/1/None, "json_valid": …}
    metrics = models.JSONField(default=dict, blank=True)
    judge_scores = models.JSONField(null=True, blank=True)
    judge_mean = models.FloatField(null=True, blank=True)
    judge_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="one_output_per_example")
        ]
        indexes = [models.Index(fields=["run", "key"])]

    def __str__(self) -> str:
        return f"Run {self.run_id} example {self.position} ({self.status})"

    @property
    def output_messages(self) -> list[dict[str, Any]]:
        return [self.output] if self.output else []


class Comparison(Job):
    job_function = "training.evaluation.jobs.run_comparison"
    queue_name = EVAL_QUEUE

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="comparisons")
    run_a = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="+")
    run_b = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="+")
    judge = models.ForeignKey(
        "training.Model", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    judge_prompt_version = models.CharField(max_length=64, blank=True)
    judge_prompt = models.TextField(blank=True)
    # People's verdicts wanted per pair (two or more give reviewer agreement).
    reviews_needed = models.PositiveSmallIntegerField(default=1)
    examples = models.PositiveIntegerField(default=0)
    # The dataset's gate settings when the comparison was made: the test promotion applies
    # to it, fixed before any verdict was seen ({"evidence", "level", "min_examples"}).
    gate = models.JSONField(default=dict, blank=True)
    # Judgements that failed (no readable verdict); counted, shown, and past a threshold
    # they fail the comparison.
    judge_failures = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Comparison #{self.pk}: run {self.run_a_id} vs run {self.run_b_id}"

    def get_absolute_url(self) -> str:
        return reverse("eval_comparison_detail", args=[self.dataset.slug, self.pk])

    @property
    def open_for_blind_review(self) -> bool:
        """Some pair still wants people's verdicts: reviewers see it blind only."""
        return self.pairs.filter(verdict_count__lt=self.reviews_needed).exists()


class JudgeVerdict(models.Model):
    """The judge's pairwise verdict on one shared example: asked with A first, then with B
    first; a disagreement between the two is a tie."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="verdicts")
    key = models.CharField(max_length=64)
    first = models.CharField(max_length=8, choices=Winner.choices)  # A shown first
    second = models.CharField(max_length=8, choices=Winner.choices)  # B shown first, mapped back
    winner = models.CharField(max_length=8, choices=Winner.choices, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    # Set when the judge's reply could not be read or the call failed: no winner then.
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comparison", "key"], name="one_judge_verdict_per_pair")
        ]

    def __str__(self) -> str:
        return f"{self.comparison_id}/{self.key[:8]}: {self.winner}"


class BlindPair(models.Model):
    """A pair people judge blind: the sides' order is drawn once, names never shown."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="pairs")
    key = models.CharField(max_length=64)
    position = models.PositiveIntegerField()
    left_is_a = models.BooleanField()
    verdict_count = models.PositiveSmallIntegerField(default=0)
    leased_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["comparison", "position"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "key"], name="one_blind_pair_per_key")
        ]
        indexes = [models.Index(fields=["comparison", "verdict_count", "position"])]

    def __str__(self) -> str:
        return f"Pair {self.pk} of comparison {self.comparison_id}"


class HumanVerdict(models.Model):
    pair = models.ForeignKey(BlindPair, on_delete=models.CASCADE, related_name="verdicts")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    choice = models.CharField(max_length=8, choices=HumanChoice.choices)
    # The choice with the sides un-blinded; a later issue turns these into preference pairs.
    winner = models.CharField(max_length=8, choices=Winner.choices)
    criteria = models.JSONField(default=dict, blank=True)  # optional {key: "left"|"right"|"tie"}
    seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["reviewer", "pair"], name="one_human_verdict_per_pair")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} on pair {self.pair_id}: {self.winner}"


class BlindSkip(models.Model):
    pair = models.ForeignKey(BlindPair, on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reviewer", "pair"], name="one_blind_skip_per_pair")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} skipped pair {self.pair_id}"


class PreScoreRun(Job):
    """The judge scoring training data (no reference) over a dataset or a filter."""

    job_function = "training.evaluation.jobs.run_prescore"
    queue_name = EVAL_QUEUE

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="prescore_runs")
    judge = models.ForeignKey("training.Model", on_delete=models.PROTECT, related_name="+")
    # The conversation list's query parameters (curation ConversationFilter) chosen.
    filter = models.JSONField(default=dict, blank=True)
    threshold = models.FloatField(default=3.0)
    concurrency = models.PositiveIntegerField(default=8)
    below = models.PositiveIntegerField(default=0)
    is_simulated = models.BooleanField(default=False)
    judge_prompt_version = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Pre-score #{self.pk} of {self.dataset}"


class PreScore(models.Model):
    """The judge's latest pre-score of a conversation: a hint, never a reviewer's score."""

    conversation = models.OneToOneField(
        "curation.Conversation", on_delete=models.CASCADE, related_name="prescore"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(PreScoreRun, on_delete=models.CASCADE, related_name="scores")
    scores = models.JSONField(default=dict)
    mean = models.FloatField()
    judge = models.CharField(max_length=300)
    prompt_version = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["dataset", "mean"])]

    def __str__(self) -> str:
        return f"Pre-score {self.mean:.1f} of conversation {self.conversation_id}"
