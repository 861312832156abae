"""Dataset versions (immutable snapshots) and their members.

A DatasetVersion is a durable job row (built on the "default" queue). Once built it never
changes: its files' sha256 and sizes are recorded, `save()` refuses to touch a built row and
the state changes that remain (deleting) go through conditional UPDATEs that keep the
manifest and every recorded fact.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from curation.models.datasets import Dataset
from curation.models.jobs import Job, JobQuerySet, JobStatus

__all__ = [
    "COMPARED_STATUSES",
    "DATA_FILES",
    "VERSION_FILES",
    "DatasetVersion",
    "ImmutableVersionError",
    "Split",
    "VersionExample",
    "VersionFormat",
    "VersionStatus",
]

# The files of a version, in the order they are listed and zipped.
VERSION_FILES = ("train.jsonl", "validation.jsonl", "manifest.json")
DATA_FILES = ("train.jsonl", "validation.jsonl")


class VersionStatus(models.TextChoices):
    """The job states plus `deleted`: the files are gone, the manifest and facts stay."""

    QUEUED = JobStatus.QUEUED.value, JobStatus.QUEUED.label
    RUNNING = JobStatus.RUNNING.value, JobStatus.RUNNING.label
    SUCCEEDED = JobStatus.SUCCEEDED.value, "Built"
    FAILED = JobStatus.FAILED.value, JobStatus.FAILED.label
    CANCELLED = JobStatus.CANCELLED.value, JobStatus.CANCELLED.label
    DELETED = "deleted", "Deleted"


# What can be compared: built versions, and deleted ones (their manifest and members stay).
COMPARED_STATUSES = (VersionStatus.SUCCEEDED, VersionStatus.DELETED)


class VersionFormat(models.TextChoices):
    SFT = "sft", "Supervised (chat messages)"
    PREFERENCE = "preference", "Preference pairs (DPO)"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"


class ImmutableVersionError(Exception):
    """Raised on any attempt to change a built dataset version."""


class DatasetVersionQuerySet(JobQuerySet):
    def built(self) -> DatasetVersionQuerySet:
        return self.filter(status=VersionStatus.SUCCEEDED)


class DatasetVersion(Job):
    job_function = "curation.jobs.build_snapshot"
    queue_name = "default"

    status = models.CharField(
        max_length=16, choices=VersionStatus.choices, default=VersionStatus.QUEUED, db_index=True
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # The latest built version when this one was built: what "changes since" compares with.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # What the admin chose; fixed when the version is created so a retry builds the same thing.
    # {"min_score": float | None, "exclude_flags": [...], "batches": [ids]}
    filter = models.JSONField(default=dict, blank=True)
    validation_fraction = models.FloatField(default=0.1)
    seed = models.BigIntegerField(default=0)
    prepend_system_prompt = models.BooleanField(default=True)
    # What the files hold: chat examples (sft) or chosen/rejected pairs (preference).
    format = models.CharField(max_length=16, choices=VersionFormat.choices, default="sft")
    system_prompt = models.TextField(blank=True)
    # Tokens the prompt adds to an example it is prepended to (counted once, at creation).
    system_prompt_tokens = models.PositiveIntegerField(default=0)

    # What the build found and wrote.
    examples = models.PositiveIntegerField(default=0)
    # Selected examples left out because their exported text equals a kept example's.
    duplicates_merged = models.PositiveIntegerField(default=0)
    train_examples = models.PositiveIntegerField(default=0)
    validation_examples = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    assistant_tokens = models.PositiveBigIntegerField(default=0)
    # {"train.jsonl": {"name": storage name, "sha256": hex, "size": bytes, "examples": n}, ...}
    files = models.JSONField(default=dict, blank=True)
    # Datasheet figures computed while building (histograms, PII counts, reviewers).
    stats = models.JSONField(default=dict, blank=True)
    # The dataset's PII settings the redaction ran with.
    pii_settings = models.JSONField(default=dict, blank=True)

    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Job declares `objects`; django-stubs wants a ClassVar override, which an as_manager()
    # type cannot be spelled as (https://github.com/typeddjango/django-stubs/issues/1713).
    objects = DatasetVersionQuerySet.as_manager()  # type: ignore[misc]

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="unique_version_number"),
            models.CheckConstraint(
                condition=models.Q(validation_fraction__gte=0, validation_fraction__lt=1),
                name="version_validation_fraction_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("version_detail", args=[self.dataset.slug, self.number])

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Built versions are frozen; the job transitions use UPDATEs, never save().
        if (
            not self._state.adding
            and type(self)
            .objects.filter(pk=self.pk, status__in=[VersionStatus.SUCCEEDED, VersionStatus.DELETED])
            .exists()
        ):
            raise ImmutableVersionError(f"{self} is built and can no longer be changed.")
        super().save(*args, **kwargs)

    # -- reading -----------------------------------------------------------------------
    @property
    def is_built(self) -> bool:
        return self.status == VersionStatus.SUCCEEDED

    @property
    def is_deleted(self) -> bool:
        return self.status == VersionStatus.DELETED

    @property
    def label(self) -> str:
        return f"v{self.number}"

    def file_info(self, name: str) -> dict[str, Any] | None:
        info = (self.files or {}).get(name)
        return info if isinstance(info, dict) else None

    def available_files(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, info) of the files that can be downloaded now."""
        names = VERSION_FILES if self.is_built else ("manifest.json",) if self.is_deleted else ()
        return [(name, info) for name in names if (info := self.file_info(name))]

    def download_name(self, name: str) -> str:
        return f"{self.dataset.slug}-v{self.number}-{name}"

    # -- writing -----------------------------------------------------------------------
    def mark_deleted(self, *, user: Any) -> bool:
        """Flag a built or failed version deleted (the caller removes the data files)."""
        now = timezone.now()
        changed = (
            type(self)
            .objects.filter(pk=self.pk, status__in=[VersionStatus.SUCCEEDED, VersionStatus.FAILED])
            .update(
                status=VersionStatus.DELETED,
                deleted_at=now,
                deleted_by=user if getattr(user, "is_authenticated", False) else None,
            )
        )
        self.refresh_from_db()
        return bool(changed)


class VersionExampleQuerySet(models.QuerySet):
    def in_files(self) -> VersionExampleQuerySet:
        """The examples written to the version's files (not the merged duplicates)."""
        return self.filter(duplicate_of__isnull=True)


class VersionExample(models.Model):
    """One example of a version: the conversation it came from, its line's sha256, its split.

    `conversation_id` is a plain id, not a foreign key: a version outlives the
    conversations it was built from. A selected conversation whose exported line equals a
    kept example's is recorded too, with `duplicate_of` set to the kept conversation's id and
    no place in the files, so the version can say what it merged and why.
    """

    # No index of its own: the unique (version, conversation_id) index serves every lookup by
    # version, and a build writes one row per example (100k rows, one index less to fill).
    version = models.ForeignKey(
        DatasetVersion, on_delete=models.CASCADE, related_name="members", db_index=False
    )
    conversation_id = models.BigIntegerField()
    content_hash = models.CharField(max_length=64)
    split = models.CharField(max_length=16, choices=Split.choices)
    duplicate_of = models.BigIntegerField(null=True, blank=True)
    # Where the line sits in its split's file, to show one example without reading the file.
    byte_offset = models.PositiveBigIntegerField(null=True, blank=True)
    byte_length = models.PositiveIntegerField(null=True, blank=True)

    objects = VersionExampleQuerySet.as_manager()

    class Meta:
        ordering = ["conversation_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "conversation_id"], name="unique_example_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.version}: conversation {self.conversation_id} ({self.split})"
