"""Dataset versions (immutable snapshots), their members, personal access tokens and prices.

A DatasetVersion is a durable job row (built on the "default" queue). Once built it never
changes: its files' sha256 and sizes are recorded, `save()` refuses to touch a built row and
the state changes that remain (deleting) go through conditional UPDATEs that keep the
manifest and every recorded fact.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from curation.models.datasets import Dataset
from curation.models.jobs import Job, JobQuerySet, JobStatus

__all__ = [
    "SNAPSHOT_FILES",
    "AccessToken",
    "DatasetVersion",
    "ImmutableVersionError",
    "Split",
    "TokenScope",
    "TrainingPrice",
    "VersionExample",
    "VersionFormat",
    "VersionStatus",
    "training_epochs",
]

# The files of a version, in the order they are listed and zipped.
SNAPSHOT_FILES = ("train.jsonl", "validation.jsonl", "manifest.json")
DATA_FILES = ("train.jsonl", "validation.jsonl")


class VersionStatus(models.TextChoices):
    """The job states plus `deleted`: the files are gone, the manifest and facts stay."""

    QUEUED = JobStatus.QUEUED.value, JobStatus.QUEUED.label
    RUNNING = JobStatus.RUNNING.value, JobStatus.RUNNING.label
    SUCCEEDED = JobStatus.SUCCEEDED.value, "Built"
    FAILED = JobStatus.FAILED.value, JobStatus.FAILED.label
    CANCELLED = JobStatus.CANCELLED.value, JobStatus.CANCELLED.label
    DELETED = "deleted", "Deleted"


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

    objects = DatasetVersionQuerySet.as_manager()

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
        names = SNAPSHOT_FILES if self.is_built else ("manifest.json",) if self.is_deleted else ()
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

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="members")
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


# -- personal access tokens -------------------------------------------------------------


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def password_fingerprint(user: Any) -> str:
    """Changes whenever the user's password does, by whatever path (page, admin, shell)."""
    return hashlib.sha256(f"curator-token:{user.password}".encode()).hexdigest()[:32]


def default_token_expiry() -> Any:
    return timezone.now() + timedelta(days=settings.CURATOR_TOKEN_LIFETIME_DAYS)


LAST_USED_PRECISION = timedelta(minutes=1)


class TokenScope(models.TextChoices):
    READ = "read", "Read (downloads, API reads)"
    INGEST = "ingest", "Ingest (post production conversations, read the production model)"
    ADMIN = "admin", "Admin (everything the user may do)"


class AccessTokenQuerySet(models.QuerySet):
    def active(self) -> AccessTokenQuerySet:
        return self.filter(
            revoked_at__isnull=True, user__is_active=True, expires_at__gt=timezone.now()
        )

    def revoke_all(self) -> int:
        return self.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


class AccessToken(models.Model):
    """A personal token for `Authorization: Bearer …` downloads from scripts.

    Only the sha256 of the secret is stored; the secret is shown once, when it is made.
    A token acts as its user, for downloads only, until it expires (CURATOR_TOKEN_LIFETIME_DAYS
    by default), is revoked, its user is deactivated, or its user's password changes: it
    remembers a fingerprint of the password hash it was issued under.
    """

    SECRET_PREFIX = "cur_"  # noqa: S105  (a marker, not a secret: lets scanners spot leaked tokens)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=default_token_expiry)
    password_fingerprint = models.CharField(max_length=32, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # API scope (curation.api): read < ingest (posts conversations) and admin (everything).
    scope = models.CharField(max_length=16, choices=TokenScope.choices, default=TokenScope.READ)
    # When set, the token works for this dataset only (other datasets answer 403).
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    objects = AccessTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def password_changed(self) -> bool:
        return self.password_fingerprint != password_fingerprint(self.user)

    @property
    def state(self) -> str:
        """What the token list shows: active, revoked, expired or 'password changed'."""
        if self.is_revoked:
            return "revoked"
        if not self.user.is_active:
            return "user deactivated"
        if self.password_changed:
            return "password changed"
        if self.is_expired:
            return "expired"
        return "active"

    @classmethod
    def issue(
        cls,
        *,
        user: Any,
        name: str,
        days: int | None = None,
        scope: str = TokenScope.READ,
        dataset: Dataset | None = None,
    ) -> tuple[AccessToken, str]:
        """A new token and its secret (the only time the secret exists in clear)."""
        secret = cls.SECRET_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name.strip()[:100],
            token_hash=hash_token(secret),
            prefix=secret[: len(cls.SECRET_PREFIX) + 6],
            expires_at=timezone.now()
            + timedelta(days=days or settings.CURATOR_TOKEN_LIFETIME_DAYS),
            password_fingerprint=password_fingerprint(user),
            scope=scope,
            dataset=dataset,
        )
        return token, secret

    def allows(self, scope: str) -> bool:
        """Admin tokens may do anything; read and ingest tokens only what they name.

        Ingest tokens do not read conversations: a serving system that posts production
        traffic has no business downloading the curated data.
        """
        return self.scope == TokenScope.ADMIN or self.scope == scope

    def allows_dataset(self, dataset: Dataset) -> bool:
        return self.dataset_id is None or self.dataset_id == dataset.pk

    @classmethod
    def authenticate(cls, secret: str) -> AccessToken | None:
        """The active token with this secret, its last use stamped; None if there is none.

        A token whose user was deactivated, or whose user's password changed since it was
        issued, is revoked here, for good (reactivating the user does not bring it back).
        """
        if not secret.startswith(cls.SECRET_PREFIX):
            return None
        token = (
            cls.objects.filter(
                token_hash=hash_token(secret),
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .select_related("user")
            .first()
        )
        if token is None:
            return None
        if not token.user.is_active or token.password_changed:
            token.revoke()
            return None
        now = timezone.now()
        # Stamped at most once a minute: a serving system posting many requests a second
        # would otherwise pay a write (and a commit) per request for the same minute.
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
            token.last_used_at = now
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
        return token

    def revoke(self) -> bool:
        changed = (
            type(self)
            .objects.filter(pk=self.pk, revoked_at__isnull=True)
            .update(revoked_at=timezone.now())
        )
        self.refresh_from_db()
        return bool(changed)


# -- training prices --------------------------------------------------------------------

# OpenAI's fine-tuning data-preparation cookbook: aim for 3 epochs, but see at least 100 and at
# most 25,000 examples in total (between 1 and 25 epochs).
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def training_epochs(examples: int) -> int:
    """The epochs a provider picks by default for this many training examples."""
    if examples <= 0:
        return 0
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, math.ceil(MIN_TARGET_EXAMPLES / examples))
    if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return TARGET_EPOCHS


class TrainingPriceQuerySet(models.QuerySet):
    def seeded(self) -> TrainingPriceQuerySet:
        """Every price, first filling an empty table from settings.CURATOR_TRAINING_PRICES."""
        if not self.exists():
            self.model.objects.bulk_create(
                [
                    self.model(
                        provider=row["provider"],
                        model=row["model"],
                        price_per_million=Decimal(str(row["price_per_million"])),
                        token_limit=int(row["token_limit"]),
                    )
                    for row in getattr(settings, "CURATOR_TRAINING_PRICES", [])
                ],
                ignore_conflicts=True,
            )
        return self.all()


class TrainingPrice(models.Model):
    """What a provider charges to train a base model, for cost estimates (editable by staff)."""

    provider = models.CharField(max_length=64)
    model = models.CharField("base model", max_length=200)
    price_per_million = models.DecimalField(
        "USD per million trained tokens", max_digits=10, decimal_places=4
    )
    token_limit = models.PositiveIntegerField(
        "per-example token limit", help_text="Longer examples are billed (and cut) at this length."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TrainingPriceQuerySet.as_manager()

    class Meta:
        ordering = ["provider", "model"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model"], name="unique_training_price"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.model}: ${self.price_per_million}/M tokens"
