"""A request whose import fails on a real database error frees its Idempotency-Key, so the
client's retry imports the items instead of answering 409 for 15 minutes (docs/api.md: a retry
with the same key imports nothing twice, and nothing at all was imported).

The failure is a lock timeout: another session holds the conversation table (as a migration or
a `VACUUM FULL` would) while this one runs with a `lock_timeout`. Hand mutation of
curation/services/ingest.py found the freeing of the key untested (docs/development.md,
"Mutation testing").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection
from django.test import Client

from curation.models import Conversation, ImportBatch, IngestRequest, JobStatus
from tests.api.conftest import item, post_items

pytestmark = pytest.mark.django_db


@contextmanager
def conversations_locked_by_another_session() -> Iterator[None]:
    """Hold the conversation table in ACCESS EXCLUSIVE mode from a second connection, while
    this test's connection gives up on a lock after 200 ms (a real `LockNotAvailable`)."""
    database = connection.settings_dict
    with psycopg.connect(
        dbname=database["NAME"],
        user=database["USER"],
        host=database["HOST"],
        port=database["PORT"] or 5432,
    ) as other:
        # NOWAIT: if this test's own transaction already held the table, waiting would hang.
        other.execute(f"LOCK TABLE {Conversation._meta.db_table} IN ACCESS EXCLUSIVE MODE NOWAIT")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
            other.rollback()


def test_a_retry_after_the_import_failed_on_a_database_error_imports_instead_of_answering_409(
    dataset, admin_user, make_token
):
    secret = make_token(admin_user, "ingest")
    # A real client sees the 500 answer, not the exception.
    client = Client(raise_request_exception=False)
    items = [item(1), item(2)]

    with conversations_locked_by_another_session():
        failed = post_items(client, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="retry-1")

    assert failed.status_code == 500
    # A request of one chunk is one transaction: nothing of it is left, not even its batch.
    assert not Conversation.objects.exists() and not ImportBatch.objects.exists()
    assert not IngestRequest.objects.filter(idempotency_key="retry-1").exists()

    retry = post_items(client, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="retry-1")

    assert retry.status_code == 200, retry.content
    assert retry.json()["imported"] == 2 and retry.json()["errors"] == []
    assert Conversation.objects.count() == 2
    assert ImportBatch.objects.get(pk=retry.json()["batch"]).ingest_request.idempotency_key == (
        "retry-1"
    )


def test_a_request_of_several_chunks_that_failed_leaves_its_batch_failed_and_its_key_free(
    dataset, admin_user, make_token, settings
):
    # Chunks commit one by one, so the batch outlives the failure: it must say it failed.
    settings.CURATOR_IMPORT_BATCH_SIZE = 2
    secret = make_token(admin_user, "ingest")
    client = Client(raise_request_exception=False)
    items = [item(1), item(2), item(3)]

    with conversations_locked_by_another_session():
        failed = post_items(client, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="retry-2")

    assert failed.status_code == 500
    batch = ImportBatch.objects.get()
    assert batch.status == JobStatus.FAILED
    assert "unexpected error (OperationalError: canceling statement due to lock timeout" in (
        batch.error
    )

    retry = post_items(client, dataset.slug, secret, items, HTTP_IDEMPOTENCY_KEY="retry-2")

    assert retry.status_code == 200, retry.content
    assert retry.json()["imported"] == 3 and Conversation.objects.count() == 3
