"""What the dataset commands share: the dataset they act on, who they act as, `--json`.

Commands are an operator's tool on the server: without `--as` they act as the system (their
audit events have no actor and show as "(system)"). With `--as USER` they act with that
person's permissions, checked as the pages check them: an active user who is an admin of the
dataset (site superusers pass), recorded as the actor.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from curation.models import Dataset, Membership, Role


def add_dataset_arguments(parser: Any) -> None:
    """`--dataset SLUG` (required) and `--json` (one JSON object as the last line)."""
    parser.add_argument("--dataset", required=True, metavar="SLUG")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object as the last line"
    )


def dataset_named(slug: str) -> Dataset:
    """The dataset with this slug; a CommandError naming it if there is none."""
    dataset = Dataset.objects.filter(slug=slug).first()
    if dataset is None:
        raise CommandError(f"no dataset {slug!r}")
    return dataset


def add_as_argument(parser: Any, *, what: str) -> None:
    parser.add_argument(
        "--as",
        dest="username",
        metavar="USER",
        default=None,
        help=f"{what} as this dataset admin (recorded as the actor); without it, as the system",
    )


def acting_user(*, username: str | None, dataset: Dataset) -> Any | None:
    """The user named by `--as`, if they may act as a dataset admin; None for the system."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    if user.is_superuser:
        return user
    if not Membership.objects.filter(dataset=dataset, user=user, role=Role.ADMIN).exists():
        raise CommandError(f"{username} is not an admin of {dataset.slug}")
    return user
