"""A file import into a dataset that holds nothing yet skips the per-chunk hash lookup until
a duplicate shows up, and lets its chunk commits return before the WAL flush; an ingest
(which answers when its rows are written) waits for the disk at every commit.

The lookup and the staging table are seen in the queries the import sends (the COPY itself
runs on the raw cursor and is not captured); `SET LOCAL` ends with the chunk's transaction.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.importers import SourceRecord
from curation.models import Conversation
from curation.services.imports import import_records
from curation.validation import normalize_openai
from tests.curation.import_helpers import import_file
from tests.factories import DatasetFactory, ImportBatchFactory

LOOKUP = "FROM unnest("
STAGING = "curator_import_stage"
ASYNCHRONOUS = "SET LOCAL synchronous_commit TO OFF"


def chat(number: int) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Where is order {number}?"},
            {"role": "assistant", "content": f"Order {number} ships today."},
        ]
    }


def write_file(path: Path, numbers: list[int]) -> Path:
    path.write_text("".join(json.dumps(chat(number)) + "\n" for number in numbers))
    return path


def sent(context: CaptureQueriesContext, text: str) -> int:
    return sum(text in query["sql"] for query in context.captured_queries)


@pytest.mark.django_db
def test_a_line_repeated_in_a_later_chunk_of_a_fresh_dataset_is_counted_a_duplicate_and_turns_the_lookup_on(
    dataset, settings, tmp_path
):
    settings.CURATOR_IMPORT_BATCH_SIZE = 3
    # Line 8 repeats line 2: chunks [1-3] [4-6] [7-9] [10].
    path = write_file(tmp_path / "chats.jsonl", [1, 2, 3, 4, 5, 6, 7, 2, 9, 10])

    with CaptureQueriesContext(connection) as queries:
        batch = import_file(dataset, path)

    assert (batch.read, batch.imported, batch.duplicates, batch.invalid) == (10, 9, 1, 0)
    assert list(
        Conversation.objects.filter(dataset=dataset)
        .order_by("id")
        .values_list("source_line", flat=True)
    ) == [1, 2, 3, 4, 5, 6, 7, 9, 10]
    # No lookup for the first three chunks; the third met the duplicate and went through
    # the staging table; the last chunk was looked up.
    assert sent(queries, STAGING) >= 1
    assert sent(queries, LOOKUP) == 1


@pytest.mark.django_db
def test_a_dataset_that_holds_conversations_is_looked_up_from_the_first_chunk(
    dataset, settings, tmp_path
):
    settings.CURATOR_IMPORT_BATCH_SIZE = 3
    path = write_file(tmp_path / "chats.jsonl", list(range(1, 11)))
    import_file(dataset, path)

    with CaptureQueriesContext(connection) as queries:
        again = import_file(dataset, path)

    assert (again.read, again.imported, again.duplicates) == (10, 0, 10)
    assert sent(queries, LOOKUP) == 4
    assert sent(queries, STAGING) == 0
    assert Conversation.objects.filter(dataset=dataset).count() == 10


@pytest.mark.django_db(transaction=True)
def test_a_file_import_commits_its_chunks_without_waiting_for_the_disk_and_an_ingest_waits(
    tmp_path,
):
    # One chunk each, written on this connection (a second chunk would go to the writer
    # thread's own connection, which the capture does not see).
    fresh = DatasetFactory()
    with CaptureQueriesContext(connection) as file_queries:
        batch = import_file(fresh, write_file(tmp_path / "chats.jsonl", [1, 2, 3]))
    assert batch.imported == 3
    assert sent(file_queries, ASYNCHRONOUS) == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"

    ingested = ImportBatchFactory(dataset=DatasetFactory())
    records = [
        SourceRecord(line=number, normalized=normalize_openai(chat(number))) for number in (1, 2)
    ]
    with CaptureQueriesContext(connection) as ingest_queries:
        import_records(batch=ingested, records=records)
    assert Conversation.objects.filter(dataset=ingested.dataset).count() == 2
    assert sent(ingest_queries, ASYNCHRONOUS) == 0
