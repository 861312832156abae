"""Issuing and revoking personal access tokens, each with its audit event.

The token page and `manage.py create_token` both issue through `access_token_create`, so a
token made either way is recorded the same way.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from curation.models import AccessToken, AuditEvent, Dataset, TokenScope


def access_token_create(
    *,
    user: Any,
    name: str,
    days: int | None = None,
    scope: str = TokenScope.READ,
    dataset: Dataset | None = None,
    actor: Any,
) -> tuple[AccessToken, str]:
    """A new token for ``user`` and its secret (shown once, never stored in clear).

    ``actor`` is who asked: the user on the token page, None for a command run by the system.
    """
    with transaction.atomic():
        token, secret = AccessToken.issue(
            user=user, name=name, days=days, scope=scope, dataset=dataset
        )
        details: dict[str, Any] = {
            "name": token.name,
            "prefix": token.prefix,
            "expires_at": token.expires_at.isoformat(),
            "scope": token.scope,
        }
        if actor is None:
            # Made by a command: the event names whose token it is and lists under its dataset.
            AuditEvent.record(
                actor=None,
                action="token.create",
                obj=token,
                dataset=dataset,
                user=user.username,
                **details,
            )
        else:
            AuditEvent.record(
                actor=actor,
                action="token.create",
                obj=token,
                dataset_slug=dataset.slug if dataset else None,
                **details,
            )
    return token, secret


def access_token_revoke(*, token: AccessToken, actor: Any) -> bool:
    """Revoke the token; False when it already was (nothing is recorded then)."""
    with transaction.atomic():
        if not token.revoke():
            return False
        AuditEvent.record(
            actor=actor, action="token.revoke", obj=token, name=token.name, prefix=token.prefix
        )
    return True
