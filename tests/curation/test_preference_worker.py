"""A preference file end to end on real RQ workers: import, PII detection over both replies,
approval, a preference version built by a worker with nothing un-redacted in it."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from curation.models import DatasetVersion, ImportBatch, JobStatus, PreferencePair, VersionStatus
from curation.services.imports import create_import_batch
from curation.services.versions.preview import create_version, normalize_filter
from tests.conftest import DATA

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_preference_file_goes_from_upload_to_a_redacted_preference_version(dataset, run_worker):
    name = "hh_rlhf.jsonl"
    batch = create_import_batch(
        dataset=dataset,
        uploaded=ContentFile((DATA / "preference" / name).read_bytes(), name=name),
        original_name=name,
        fmt="auto",
        user=None,
    )
    # One burst worker imports and then runs the detection the import queued.
    run_worker("default", "pii")
    batch = ImportBatch.objects.get(pk=batch.pk)
    assert batch.status == JobStatus.SUCCEEDED, batch.error
    assert batch.as_summary()["pairs"] == 2
    call_command("review_bulk", "--dataset", dataset.slug, "--approve", "--where", "all")
    assert PreferencePair.objects.filter(conversation__status="approved").count() == 2
    version = create_version(
        dataset=dataset, user=None, filter=normalize_filter(), validation_fraction=0,
        format="preference",
    )  # fmt: skip
    run_worker("default")
    version = DatasetVersion.objects.get(pk=version.pk)
    assert version.status == VersionStatus.SUCCEEDED, version.error
    with default_storage.open(version.files["train.jsonl"]["name"]) as handle:
        text = handle.read().decode()
    assert "maria.gonzalez@example.org" not in text and "Maria Gonzalez" not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == 2 and all(set(row) == {"input", "preferred_output",
                                               "non_preferred_output"} for row in rows)  # fmt: skip
