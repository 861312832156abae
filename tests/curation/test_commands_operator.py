"""Management commands are an operator's tool: they run as the system, or `--as` a dataset admin."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from curation.models import (
    AuditEvent,
    ConversationStatus,
    Dataset,
    DatasetVersion,
    Role,
)
from tests.conftest import DATA
from tests.factories import ConversationFactory, MembershipFactory, UserFactory, built_version

pytestmark = pytest.mark.django_db


def in_review(dataset, count: int = 2):  # type: ignore[no-untyped-def]
    return ConversationFactory.create_batch(
        count, dataset=dataset, status=ConversationStatus.IN_REVIEW
    )


def test_review_bulk_runs_as_the_system_without_a_user(dataset):
    in_review(dataset)
    call_command("review_bulk", "--dataset", dataset.slug, "--approve", "--where", "all")
    assert dataset.conversations.filter(status=ConversationStatus.APPROVED).count() == 2
    event = AuditEvent.objects.filter(dataset=dataset).latest("pk")
    assert event.actor is None


def test_review_bulk_as_an_admin_records_them(dataset, admin_user):
    in_review(dataset)
    call_command(
        "review_bulk", "--dataset", dataset.slug, "--approve", "--where", "all", "--as", "admin"
    )
    assert AuditEvent.objects.filter(dataset=dataset).latest("pk").actor == admin_user


@pytest.mark.parametrize("command", ["review_bulk", "snapshot", "finetune"])
def test_as_a_reviewer_or_an_unknown_user_is_refused(command, dataset, reviewer):
    in_review(dataset)
    built_version(dataset)
    args = {
        "review_bulk": ["--approve"],
        "snapshot": [],
        "finetune": ["--version", "1", "--provider", "simulator", "--model", "m"],
    }[command]
    with pytest.raises(CommandError, match="reviewer is not an admin of support"):
        call_command(command, "--dataset", dataset.slug, *args, "--as", "reviewer")
    with pytest.raises(CommandError, match="no active user 'ghost'"):
        call_command(command, "--dataset", dataset.slug, *args, "--as", "ghost")
    assert dataset.conversations.filter(status=ConversationStatus.IN_REVIEW).count() == 2
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1


def test_snapshot_as_an_admin_is_theirs_and_without_as_the_systems(dataset, admin_user):
    ConversationFactory.create_batch(3, dataset=dataset, status=ConversationStatus.APPROVED)
    call_command("snapshot", "--dataset", dataset.slug, "--as", "admin", "--json")
    call_command("snapshot", "--dataset", dataset.slug, "--json")
    mine, system = DatasetVersion.objects.filter(dataset=dataset).order_by("number")
    assert mine.created_by == admin_user and system.created_by is None
    actors = dict(
        AuditEvent.objects.filter(action="version.create").values_list("object_id", "actor")
    )
    assert actors == {str(mine.pk): admin_user.pk, str(system.pk): None}


def test_a_site_superuser_may_act_on_any_dataset(dataset):
    in_review(dataset)
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    call_command(
        "review_bulk", "--dataset", dataset.slug, "--reject", "--where", "all", "--as", "root"
    )
    assert AuditEvent.objects.filter(dataset=dataset).latest("pk").actor == root


def test_import_create_and_redact_are_audited_as_the_system(db):
    call_command(
        "import_conversations", "--dataset", "fresh", "--create", str(DATA / "openai_ok.jsonl")
    )
    dataset = Dataset.objects.get(slug="fresh")
    created = AuditEvent.objects.get(action="dataset.create", dataset=dataset)
    assert created.actor is None and not dataset.memberships.exists()
    assert AuditEvent.objects.get(action="import.upload", dataset=dataset).actor is None
    call_command("redact", "--dataset", "fresh", "--all")
    runs = AuditEvent.objects.filter(action="pii.run", dataset=dataset)
    assert runs.exists() and all(event.actor is None for event in runs)


def test_a_deactivated_admin_cannot_be_acted_as(dataset):
    former = UserFactory(username="former", is_active=False)
    MembershipFactory(dataset=dataset, user=former, role=Role.ADMIN)
    with pytest.raises(CommandError, match="no active user 'former'"):
        call_command("snapshot", "--dataset", dataset.slug, "--as", "former")
