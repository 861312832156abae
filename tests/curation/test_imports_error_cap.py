"""Rejected lines: the first N are stored with their line; the rest are counted exactly by
reason, and the page and the CSV say how many were not stored."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest
from django.urls import reverse

from curation.models import ImportLineError
from tests.curation.import_helpers import import_file

pytestmark = pytest.mark.django_db

GOOD = json.dumps(
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
)


def write_file(path, bad_json: int, no_reply: int):  # type: ignore[no-untyped-def]
    no_reply_line = json.dumps({"messages": [{"role": "user", "content": "alone"}]})
    with gzip.open(path, "wt") as handle:
        handle.write(GOOD + "\n")
        for n in range(bad_json):
            handle.write("{oops " + str(n) + "\n")
        for _ in range(no_reply):
            handle.write(no_reply_line + "\n")
    return path


def test_only_the_first_rejected_lines_are_stored_and_the_rest_counted_by_reason(
    dataset, tmp_path, settings, client, admin_user
):
    settings.CURATOR_IMPORT_MAX_STORED_ERRORS = 100
    settings.CURATOR_IMPORT_BATCH_SIZE = 500
    batch = import_file(dataset, write_file(tmp_path / "bad.jsonl.gz", 3000, 1200))
    assert batch.imported == 1 and batch.invalid == 4200
    assert ImportLineError.objects.filter(batch=batch).count() == 100
    assert sorted(
        ImportLineError.objects.filter(batch=batch).values_list("line", flat=True)
    ) == list(range(2, 102))
    assert batch.not_stored_count == 4100
    counts = dict(batch.not_stored_list)
    assert sum(count for reason, count in counts.items() if "JSON" in reason) == 2900
    assert sum(count for reason, count in counts.items() if "assistant" in reason) == 1200
    assert batch.as_summary()["errors_not_stored"] == batch.errors_not_stored

    client.force_login(admin_user)
    page = client.get(reverse("import_detail", args=[dataset.slug, batch.pk])).content.decode()
    assert "4,100 more lines were not imported and are not listed" in page
    response = client.get(reverse("import_errors_csv", args=[dataset.slug, batch.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1 + 100 + len(counts)
    summary = rows[101:]
    assert sum(int(row[1].split()[0]) for row in summary) == 4100
    assert all(row[1].endswith("more lines, not stored") for row in summary)


def test_under_the_cap_every_rejected_line_is_stored(dataset, tmp_path, settings):
    settings.CURATOR_IMPORT_MAX_STORED_ERRORS = 100
    batch = import_file(dataset, write_file(tmp_path / "few.jsonl.gz", 60, 40))
    assert ImportLineError.objects.filter(batch=batch).count() == 100
    assert batch.errors_not_stored == {} and batch.not_stored_count == 0
