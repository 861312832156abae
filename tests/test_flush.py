"""After a transactional test every table but content types and permissions is emptied by
deleting its rows (tests/pg_backend), which only works because every foreign key can wait
until the flush commits."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection

from curation.models import Conversation, Membership
from tests.factories import ConversationFactory, MembershipFactory


def test_every_foreign_key_is_checked_at_commit_so_rows_can_be_deleted_in_any_order(db) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'f' AND NOT (condeferrable AND condeferred)"
        )
        immediate = cursor.fetchall()
    assert immediate == []


@pytest.mark.django_db(transaction=True)
def test_flush_deletes_the_rows_of_parents_and_children_alike() -> None:
    membership = MembershipFactory()
    ConversationFactory(dataset=membership.dataset)
    statements = connection.ops.sql_flush(
        no_style(), ["curation_dataset", "django_content_type", "curation_conversation"]
    )
    assert statements == [
        'DELETE FROM "curation_conversation";',
        'DELETE FROM "curation_dataset";',
    ]
    content_types = set(ContentType.objects.values_list("pk", "model"))

    call_command("flush", verbosity=0, interactive=False, reset_sequences=False)

    assert not Conversation.objects.exists() and not Membership.objects.exists()
    # Kept as migrate made them, rather than deleted and made again by post_migrate.
    assert set(ContentType.objects.values_list("pk", "model")) == content_types


def test_a_flush_that_resets_sequences_still_truncates(db) -> None:
    (statement,) = connection.ops.sql_flush(no_style(), ["curation_dataset"], reset_sequences=True)
    assert statement.startswith("TRUNCATE") and "RESTART IDENTITY" in statement
