"""Dataset creation, settings and membership changes, each checked inside its transaction.

Membership changes of one dataset are serialized on the dataset row (SELECT … FOR UPDATE), and
every rule is checked after the lock: two admins demoting each other at once cannot both see
"another admin remains", and an admin demoted a moment ago can no longer act as one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from curation.models import AuditEvent, Dataset, Invitation, Membership, Role
from curation.models.datasets import MEMBER_NOT_ADDABLE

LAST_ADMIN = "A dataset needs at least one admin; make someone else admin first."


class MembershipError(Exception):
    """A change the rules refuse; the message says why, for the person who asked."""


# How long an invitation link works unless revoked first.
INVITATION_DAYS = 14


def dataset_create(
    *,
    dataset: Dataset,
    user: Any,
    reviewers: Iterable[Any] = (),
    invite: bool = False,
) -> Dataset:
    """Save a new dataset with its creator as admin (None: made by a command, as the system),
    the reviewers chosen on the form as its reviewers and, with `invite`, an invitation link
    for reviewers who have an account but were not chosen."""
    with transaction.atomic():
        dataset.created_by = user
        dataset.save()
        if user is not None:
            Membership.objects.create(dataset=dataset, user=user, role=Role.ADMIN)
        AuditEvent.record(actor=user, action="dataset.create", obj=dataset, dataset=dataset)
        for reviewer in reviewers:
            if reviewer == user:
                continue
            membership_add(dataset=dataset, actor=user, user=reviewer, role=Role.REVIEWER)
        if invite:
            invitation_create(dataset=dataset, actor=user)
    return dataset


def dataset_settings_save(*, dataset: Dataset, changed: list[str], actor: Any) -> Dataset:
    """Save the dataset's edited settings and record which fields changed."""
    with transaction.atomic():
        dataset.save()
        AuditEvent.record(
            actor=actor,
            action="dataset.settings",
            obj=dataset,
            dataset=dataset,
            changed=sorted(changed),
        )
    return dataset


def _lock(dataset: Dataset, actor: Any) -> None:
    """Lock the dataset row, then check the actor is (still) one of its admins."""
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    if not Membership.objects.filter(dataset=dataset, user=actor, role=Role.ADMIN).exists():
        raise MembershipError("Only dataset admins can change members.")


def _check_grant(*, actor: Any, user: Any) -> None:
    if user.is_staff and not getattr(actor, "is_staff", False):
        # Worded as for an account that does not exist: no hint that this one is staff.
        raise MembershipError(MEMBER_NOT_ADDABLE.format(username=user.get_username()))


def membership_add(*, dataset: Dataset, actor: Any, user: Any, role: str) -> Membership:
    with transaction.atomic():
        _lock(dataset, actor)
        _check_grant(actor=actor, user=user)
        if Membership.objects.filter(dataset=dataset, user=user).exists():
            raise MembershipError(f"{user.get_username()} is already a member.")
        member = Membership.objects.create(dataset=dataset, user=user, role=role)
        AuditEvent.record(
            actor=actor,
            action="member.add",
            obj=member,
            dataset=dataset,
            user=user.get_username(),
            role=role,
        )
    return member


def _member(dataset: Dataset, member_id: int) -> Membership:
    member = Membership.objects.select_related("user").filter(pk=member_id, dataset=dataset).first()
    if member is None:
        raise MembershipError("That person is no longer a member.")
    return member


def _others_admin(dataset: Dataset, member: Membership) -> bool:
    return (
        Membership.objects.filter(dataset=dataset, role=Role.ADMIN).exclude(pk=member.pk).exists()
    )


def membership_change_role(
    *, dataset: Dataset, actor: Any, member_id: int, role: str
) -> Membership:
    if role not in Role.values:
        raise MembershipError(f"Unknown role {role!r}.")
    with transaction.atomic():
        _lock(dataset, actor)
        member = _member(dataset, member_id)
        if member.role == Role.ADMIN and role != Role.ADMIN and not _others_admin(dataset, member):
            raise MembershipError(LAST_ADMIN)
        member.role = role
        member.save(update_fields=["role"])
        AuditEvent.record(
            actor=actor,
            action="member.role",
            obj=member,
            dataset=dataset,
            user=member.user.get_username(),
            role=role,
        )
    return member


def membership_remove(*, dataset: Dataset, actor: Any, member_id: int) -> Membership:
    with transaction.atomic():
        _lock(dataset, actor)
        member = _member(dataset, member_id)
        if member.role == Role.ADMIN and not _others_admin(dataset, member):
            raise MembershipError(LAST_ADMIN)
        AuditEvent.record(
            actor=actor,
            action="member.remove",
            obj=member,
            dataset=dataset,
            user=member.user.get_username(),
        )
        member.delete()
    return member


def invitation_create(*, dataset: Dataset, actor: Any, days: int = INVITATION_DAYS) -> Invitation:
    """A reviewer invitation link for the dataset, valid for `days`."""
    with transaction.atomic():
        _lock(dataset, actor)
        invitation = Invitation.objects.create(
            dataset=dataset,
            role=Role.REVIEWER,
            created_by=actor,
            expires_at=timezone.now() + timedelta(days=days),
        )
        AuditEvent.record(
            actor=actor, action="invitation.create", obj=invitation, dataset=dataset, days=days
        )
    return invitation


def invitation_revoke(*, dataset: Dataset, actor: Any, invitation_id: int) -> Invitation:
    with transaction.atomic():
        _lock(dataset, actor)
        invitation = Invitation.objects.filter(pk=invitation_id, dataset=dataset).first()
        if invitation is None:
            raise MembershipError("No such invitation.")
        if invitation.revoked_at is None:
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
            AuditEvent.record(
                actor=actor, action="invitation.revoke", obj=invitation, dataset=dataset
            )
    return invitation


def invitation_accept(*, invitation: Invitation, user: Any) -> Membership:
    """Join the invitation's dataset; a member already keeps the role they have."""
    with transaction.atomic():
        dataset = invitation.dataset
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.is_usable:
            raise MembershipError(
                "This invitation link has expired or was revoked; ask a dataset admin for a new one."
            )
        existing = Membership.objects.filter(dataset=dataset, user=user).first()
        if existing is not None:
            return existing
        inviter = invitation.created_by
        if (
            inviter is None
            or not Membership.objects.filter(
                dataset=dataset, user=inviter, role=Role.ADMIN
            ).exists()
        ):
            raise MembershipError(
                "Whoever made this link is no longer an admin of the dataset; ask an admin "
                "for a new one."
            )
        _check_grant(actor=inviter, user=user)
        member = Membership.objects.create(dataset=dataset, user=user, role=invitation.role)
        Invitation.objects.filter(pk=invitation.pk).update(accepted=F("accepted") + 1)
        AuditEvent.record(
            actor=user,
            action="member.join",
            obj=member,
            dataset=dataset,
            user=user.get_username(),
            role=invitation.role,
            invitation=invitation.pk,
        )
    return member
