from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from curation.pii.config import LANGUAGES, region_problem
from curation.pii.policy import DEFAULT_ENTITIES


# The policy (what counts as personal data) lives with the detector; see curation.pii.policy.
def default_rubric() -> list[dict[str, str]]:
    return [
        {
            "key": "helpfulness",
            "name": "Helpfulness",
            "description": "Does the assistant solve the user's problem?",
        },
        {
            "key": "accuracy",
            "name": "Accuracy",
            "description": "Is every statement correct and grounded?",
        },
        {"key": "tone", "name": "Tone", "description": "Is the reply polite, clear and on-brand?"},
    ]


def default_pii_entities() -> list[str]:
    return list(DEFAULT_ENTITIES)


def validate_region(value: str) -> None:
    problem = region_problem(value)
    if problem is not None:
        raise ValidationError(problem)


def validate_languages(value: Any) -> None:
    unknown = [code for code in value or [] if code not in LANGUAGES]
    if unknown:
        known = ", ".join(LANGUAGES)
        raise ValidationError(f"unknown language code(s) {', '.join(unknown)}; use {known}")


def validate_rubric(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("The rubric needs at least one criterion.")
    keys = set()
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict) or not str(item.get("name", "")).strip():
            raise ValidationError(f"Criterion {index} needs a name.")
        key = item.get("key") or slugify(item["name"]).replace("-", "_")
        if key in keys:
            raise ValidationError(f"Criterion {index}: the name {item['name']!r} is used twice.")
        keys.add(key)


class Role(models.TextChoices):
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"


class PiiOperator(models.TextChoices):
    TAG = "tag", "Tag (<PERSON_1>)"
    SURROGATE = "surrogate", "Realistic fake values"
    MASK = "mask", "Mask (*****)"


class ApprovalRule(models.TextChoices):
    UNANIMOUS = "unanimous", "Unanimous"
    MAJORITY = "majority", "Majority"


class DatasetQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> DatasetQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)


class Dataset(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    system_prompt = models.TextField("default system prompt", blank=True)
    base_model = models.CharField(
        "target base model", max_length=200, default="gpt-4.1-mini-2025-04-14"
    )
    token_limit = models.PositiveIntegerField(
        "per-example token limit",
        default=65536,
        help_text="Examples above this many tokens are flagged.",
    )
    rubric = models.JSONField(default=default_rubric, validators=[validate_rubric])
    reviews_needed = models.PositiveSmallIntegerField("reviews needed per example", default=1)
    approval_rule = models.CharField(
        max_length=16, choices=ApprovalRule.choices, default=ApprovalRule.UNANIMOUS
    )

    pii_entities = ArrayField(
        models.CharField(max_length=64), default=default_pii_entities, blank=True
    )
    # Off for data known to hold no personal data: imports go straight to review.
    pii_detection = models.BooleanField(
        "PII detection",
        default=True,
        help_text="Off: conversations skip detection and go straight to review, unredacted.",
    )
    pii_threshold = models.FloatField("PII score threshold", default=0.4)
    pii_operator = models.CharField(
        max_length=16, choices=PiiOperator.choices, default=PiiOperator.TAG
    )
    pii_allow_list = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    pii_deny_list = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    # [{"entity": "TICKET_ID", "pattern": "TCK-\\d{6}", "score": 0.9}]
    pii_patterns = models.JSONField(default=list, blank=True)
    # Where the conversations come from and what they are written in: national phone and
    # postcode formats of the region, name detection per language (empty: by script).
    region = models.CharField(
        "default region",
        max_length=2,
        blank=True,
        default="",
        validators=[validate_region],
        help_text="Two-letter code (IN, US, GB…) for phone numbers written without a country code.",
    )
    languages = ArrayField(
        models.CharField(max_length=8),
        default=list,
        blank=True,
        validators=[validate_languages],
        help_text="Languages the conversations are in; empty: detected per message by script.",
    )
    purge_originals_after_approval = models.BooleanField(default=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("dataset_detail", args=[self.slug])

    @property
    def criteria(self) -> list[dict[str, str]]:
        """Rubric criteria with a stable key each, whatever older rows stored."""
        result = []
        for item in self.rubric or []:
            key = item.get("key") or slugify(item.get("name", "")).replace("-", "_")
            result.append(
                {
                    "key": key,
                    "name": item.get("name", key),
                    "description": item.get("description", ""),
                }
            )
        return result


# What a dataset admin hears whether the account does not exist, is inactive or is a site
# staff account they may not add: the member form must not tell them which.
MEMBER_NOT_ADDABLE = (
    "No account called {username!r} can be added here. Site staff create accounts in the "
    "admin, and only they can add a staff account."
)


class Membership(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REVIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "user"], name="unique_membership")
        ]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} - {self.dataset} ({self.role})"


INVITATION_SALT = "curator.invitation"


class Invitation(models.Model):
    """A link that adds whoever opens it, signed in, to a dataset as a reviewer, until it
    expires or a dataset admin revokes it. The link is the row's id signed with SECRET_KEY, so
    it can be shown again on the Members page and cannot be guessed."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REVIEWER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    accepted = models.PositiveIntegerField("people who joined with it", default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Invitation to {self.dataset} as {self.role}"

    def get_absolute_url(self) -> str:
        return reverse("invitation_accept", args=[self.token])

    @property
    def token(self) -> str:
        return signing.dumps(self.pk, salt=INVITATION_SALT)

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @classmethod
    def from_token(cls, token: str) -> Invitation | None:
        """The invitation a link names, usable or not; None for a link that was not ours."""
        try:
            pk = signing.loads(token, salt=INVITATION_SALT)
        except signing.BadSignature:
            return None
        if not isinstance(pk, int):
            return None
        return cls.objects.select_related("dataset", "created_by").filter(pk=pk).first()


class AuditEvent(models.Model):
    """Who changed what, for every change a person makes."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events"
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dataset", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type}:{self.object_id}"

    @classmethod
    def record(
        cls,
        *,
        actor: Any,
        action: str,
        obj: models.Model | None = None,
        dataset: Dataset | None = None,
        **details: Any,
    ) -> AuditEvent:
        return cls.objects.create(
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            dataset=dataset,
            action=action,
            object_type=obj._meta.model_name if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            details=details,
        )
