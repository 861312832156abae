"""Import pages: the live part ends in the final state by itself, the upload form says
what is wrong, and the error report cannot carry spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from curation.models import ImportBatch, ImportLineError, JobStatus
from curation.services.imports import run_import_job
from tests.curation.import_helpers import import_file
from tests.factories import ImportBatchFactory

pytestmark = pytest.mark.django_db

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}


def live_fragment(client, batch):  # type: ignore[no-untyped-def]
    url = reverse("import_detail", args=[batch.dataset.slug, batch.pk]) + "?fragment=progress"
    return client.get(url, HTTP_HX_REQUEST="true").content.decode()


def test_the_live_part_of_an_import_page_switches_to_the_final_state_by_itself(
    dataset, admin_user, client_for, tmp_path
):
    from django.core.files import File

    from curation.services.imports import create_import_batch

    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps(GOOD) + "\n{broken\n")
    with path.open("rb") as handle:
        batch = create_import_batch(
            dataset=dataset,
            uploaded=File(handle, name="chat.jsonl"),
            original_name="chat.jsonl",
            fmt="auto",
            user=admin_user,
            enqueue=False,
        )
    client = client_for(admin_user)
    while_queued = live_fragment(client, batch)
    assert 'hx-trigger="every 2s"' in while_queued
    assert "Being detected" in while_queued and "None so far" in while_queued
    assert "Detect automatically" not in while_queued

    run_import_job(batch_id=batch.pk)
    final = live_fragment(client, batch)
    # The same poll now answers with the final state and stops polling.
    assert "hx-trigger" not in final
    assert "OpenAI chat JSONL" in final
    assert "Succeeded with rejected lines" in final
    assert "not valid JSON" in final and "None so far" not in final
    assert "Browse the 1 imported conversations" in final
    assert 'id="import-live"' in final


def test_the_live_fragment_needs_membership(dataset, outsider, client_for):
    batch = ImportBatchFactory(dataset=dataset)
    url = reverse("import_detail", args=[dataset.slug, batch.pk]) + "?fragment=progress"
    assert client_for(outsider).get(url, HTTP_HX_REQUEST="true").status_code == 404
    assert client_for(None).get(url, HTTP_HX_REQUEST="true").status_code == 302


def test_the_import_page_lists_unmapped_fields_with_their_line_counts(
    dataset, reviewer, client_for, tmp_path
):
    path = tmp_path / "extra.jsonl"
    path.write_text(json.dumps({**GOOD, "ticket": "T-1", "channel": "chat"}))
    batch = import_file(dataset, path)
    html = (
        client_for(reviewer)
        .get(reverse("import_detail", args=[dataset.slug, batch.pk]))
        .content.decode()
    )
    assert "Fields kept as metadata" in html
    assert '<code>ticket</code></td><td class="num">1</td>' in html


def test_upload_without_a_file_is_a_form_error(dataset, admin_user, client_for):
    response = client_for(admin_user).post(
        reverse("import_list", args=[dataset.slug]), {"format": "auto"}
    )
    assert response.status_code == 200
    assert "Choose at least one file to upload." in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_upload_of_more_than_100_files_is_a_form_error(dataset, admin_user, client_for):
    files = [
        SimpleUploadedFile(f"f{n}.jsonl", json.dumps(GOOD).encode(), "application/json")
        for n in range(101)
    ]
    response = client_for(admin_user).post(
        reverse("import_list", args=[dataset.slug]), {"format": "auto", "files": files}
    )
    assert response.status_code == 200
    assert "101 files chosen; upload at most 100" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_error_report_cells_cannot_start_a_formula(dataset, admin_user, client_for):
    batch = ImportBatchFactory(dataset=dataset, original_name="=HYPERLINK(1).jsonl")
    for line, reason in enumerate(["=1+1", "+cmd", "-2", "@SUM(A1)", "plain"], start=1):
        ImportLineError.objects.create(batch=batch, line=line, field="-f", reason=reason)
    response = client_for(admin_user).get(
        reverse("import_errors_csv", args=[dataset.slug, batch.pk])
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1] == ["'=HYPERLINK(1).jsonl", "1", "'-f", "'=1+1"]
    assert [row[3] for row in rows[2:]] == ["'+cmd", "'-2", "'@SUM(A1)", "plain"]
    assert batch.status == JobStatus.QUEUED
