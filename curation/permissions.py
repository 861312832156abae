"""One permission helper per object kind: each returns the object or raises 404/403.

Objects are always looked up through the dataset the user is a member of, so an outsider
gets a 404 (not a 403) and learns nothing about other datasets.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from curation.models import (
    COMPARED_STATUSES,
    AccessToken,
    Adjudication,
    Conversation,
    Dataset,
    DatasetVersion,
    ImportBatch,
    Membership,
    PiiFinding,
    PiiRun,
    PreferencePair,
    Role,
)


class DatasetNotFound(Http404):
    """The dataset does not exist or the user is not a member (the two look the same, so an
    outsider learns nothing); curation.middleware answers it with a page saying whom to ask."""


def get_dataset_for_user(request: HttpRequest, slug: str, *, admin: bool = False) -> Dataset:
    """The dataset if the user is a member; with `admin`, only for dataset admins."""
    user = request.user
    membership = (
        Membership.objects.select_related("dataset").filter(dataset__slug=slug, user=user).first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise DatasetNotFound("No such dataset.")
    if admin and membership.role != Role.ADMIN:
        raise PermissionDenied("Only dataset admins can do this.")
    dataset = membership.dataset
    dataset.user_role = membership.role  # type: ignore[attr-defined]  # the user's role, shown by templates
    return dataset


def get_batch_for_user(
    request: HttpRequest, slug: str, batch_id: int, *, admin: bool = False
) -> ImportBatch:
    dataset = get_dataset_for_user(request, slug, admin=admin)
    try:
        batch = ImportBatch.objects.get(pk=batch_id, dataset=dataset)
    except ImportBatch.DoesNotExist:
        raise Http404("No such import.") from None
    batch.dataset = dataset
    return batch


def get_conversation_for_user(
    request: HttpRequest, slug: str, conversation_id: int, *, admin: bool = False
) -> Conversation:
    dataset = get_dataset_for_user(request, slug, admin=admin)
    try:
        conversation = Conversation.objects.get(pk=conversation_id, dataset=dataset)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None
    conversation.dataset = dataset
    return conversation


def get_version_for_user(
    request: HttpRequest, slug: str, number: int, *, admin: bool = False
) -> DatasetVersion:
    """The version of a dataset the user is a member of (404 otherwise)."""
    dataset = get_dataset_for_user(request, slug, admin=admin)
    version = (
        DatasetVersion.objects.select_related("created_by", "deleted_by", "parent")
        .filter(dataset=dataset, number=number)
        .first()
    )
    if version is None:
        raise Http404("No such version.")
    version.dataset = dataset
    return version


def get_version_pair_for_user(
    request: HttpRequest, slug: str, number: int, other: int
) -> tuple[DatasetVersion, DatasetVersion]:
    """Two versions of one dataset to compare; 404 unless both are built (or deleted)."""
    old = get_version_for_user(request, slug, number)
    new = get_version_for_user(request, slug, other)
    if old.status not in COMPARED_STATUSES or new.status not in COMPARED_STATUSES:
        raise Http404("Only built versions can be compared.")
    return old, new


def get_access_token_for_user(request: HttpRequest, token_id: int) -> AccessToken:
    """One of the user's own access tokens; anyone else's is a 404."""
    user = request.user
    token = (
        AccessToken.objects.filter(pk=token_id, user=user).first()
        if user.is_authenticated
        else None
    )
    if token is None:
        raise Http404("No such token.")
    return token


def require_staff(request: HttpRequest, message: str) -> None:
    if not request.user.is_staff:
        raise PermissionDenied(message)


def get_adjudication_for_user(
    request: HttpRequest, slug: str, conversation_id: int
) -> Adjudication:
    """The adjudication of a conversation in a dataset the user administers."""
    conversation = get_conversation_for_user(request, slug, conversation_id, admin=True)
    try:
        adjudication = Adjudication.objects.get(conversation=conversation)
    except Adjudication.DoesNotExist:
        raise Http404("No such adjudication.") from None
    adjudication.conversation = conversation
    return adjudication


def get_pair_for_user(
    request: HttpRequest, slug: str, pair_id: int, *, admin: bool = False
) -> PreferencePair:
    """A preference pair of a dataset the user is a member (or, with `admin`, an admin) of."""
    dataset = get_dataset_for_user(request, slug, admin=admin)
    pair = (
        PreferencePair.objects.select_related("conversation__dataset")
        .filter(pk=pair_id, conversation__dataset=dataset)
        .first()
    )
    if pair is None:
        raise Http404("No such pair.")
    return pair


def get_finding_for_user(
    request: HttpRequest, slug: str, conversation_id: int, finding_id: int
) -> PiiFinding:
    """A PII finding of a conversation the user may see (reviewers decide on findings)."""
    conversation = get_conversation_for_user(request, slug, conversation_id)
    try:
        finding = PiiFinding.objects.get(pk=finding_id, conversation=conversation)
    except PiiFinding.DoesNotExist:
        raise Http404("No such finding.") from None
    finding.conversation = conversation
    return finding


def get_pii_run_for_user(request: HttpRequest, slug: str, run_id: int) -> PiiRun:
    """A PII detection run of a dataset the user administers."""
    dataset = get_dataset_for_user(request, slug, admin=True)
    try:
        run = PiiRun.objects.get(pk=run_id, dataset=dataset)
    except PiiRun.DoesNotExist:
        raise Http404("No such detection run.") from None
    run.dataset = dataset
    return run


def can_create_datasets(user: Any) -> bool:
    """Site staff, or anyone signed in where CURATOR_ANYONE_CAN_CREATE_DATASETS opens it."""
    return bool(
        user.is_authenticated and (user.is_staff or settings.CURATOR_ANYONE_CAN_CREATE_DATASETS)
    )


def require_dataset_creator(request: HttpRequest) -> None:
    if not can_create_datasets(request.user):
        raise PermissionDenied("Only site staff can create datasets.")


def is_dataset_admin(dataset: Any) -> bool:
    return getattr(dataset, "user_role", None) == Role.ADMIN


def client_ip(request: HttpRequest) -> str:
    """The address a request came from, for login throttling.

    Behind a proxy (CURATOR_BEHIND_PROXY) every request comes from the proxy, so the last
    X-Forwarded-For entry (the one our proxy appended; earlier ones are the client's to forge)
    is taken instead.
    """
    if settings.CURATOR_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "")
