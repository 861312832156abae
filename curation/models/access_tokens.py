"""Personal access tokens: `Authorization: Bearer …` for downloads and the JSON API."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from curation.models.datasets import Dataset

__all__ = ["AccessToken", "TokenScope"]


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
