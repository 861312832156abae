"""A built version is immutable and checked (invariant 2): manifest, datasheet, tamper detection, deletion."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.storage import default_storage

from curation.models import (
    AuditEvent,
    DatasetVersion,
    FindingDecision,
    ImmutableVersionError,
    PiiFinding,
    Review,
    VersionExample,
    VersionStatus,
)
from curation.services.versions.files import (
    TamperedFileError,
    delete_version,
    verify_file,
)
from tests.curation.version_helpers import approved, build, manifest, read

pytestmark = pytest.mark.django_db


def test_manifest_records_everything_needed_to_check_the_version(dataset, admin_user):
    dataset.pii_operator = "mask"
    dataset.pii_deny_list = ["ACME-SECRET"]
    dataset.save()
    conversations = approved(dataset, 30, token_count=50, assistant_tokens=20)
    version = build(dataset, user=admin_user, validation_fraction=0.2, seed=11, notes="first cut")
    data = manifest(version)
    assert data["dataset"] == {"id": dataset.pk, "slug": "support", "name": "Support"}
    assert (data["version"], data["created_by"], data["notes"], data["seed"]) == (
        1,
        "admin",
        "first cut",
        11,
    )
    assert data["filter"]["status"] == "approved" and data["validation_fraction"] == 0.2
    assert data["counts"] == {
        "examples": 30,
        "train": version.train_examples,
        "validation": version.validation_examples,
        "duplicates_merged": 0,
    }
    assert data["tokens"]["total"] == 1500 and data["tokens"]["assistant"] == 600
    assert data["redaction"]["pii_settings"]["operator"] == "mask"
    assert data["redaction"]["pii_settings"]["deny_list"] == ["ACME-SECRET"]
    assert data["redaction"]["function"] == "curation.services.pii.redacted_messages"
    for name in ("train.jsonl", "validation.jsonl"):
        raw = read(version, name)
        assert data["files"][name] == {
            "sha256": hashlib.sha256(raw).hexdigest(),
            "size": len(raw),
            "examples": len(raw.splitlines()),
        }
        assert version.files[name]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert (
        version.files["manifest.json"]["sha256"]
        == hashlib.sha256(read(version, "manifest.json")).hexdigest()
    )
    assert [m["id"] for m in data["examples"]] == sorted(c.pk for c in conversations)
    members = {
        m.conversation_id: (m.content_hash, m.split)
        for m in VersionExample.objects.filter(version=version)
    }
    assert {m["id"]: (m["sha256"], m["split"]) for m in data["examples"]} == members
    assert AuditEvent.objects.filter(
        action="version.create", object_id=str(version.pk), actor=admin_user
    ).exists()


def test_datasheet_figures_are_computed_at_build(dataset, reviewer, admin_user):
    conversations = approved(dataset, 4, score_avg=4.2, token_count=300)
    approved(dataset, 1, score_avg=None, token_count=5000)
    PiiFinding.objects.create(
        conversation=conversations[0], message_index=1, start=0, end=5, entity_type="PERSON"
    )
    PiiFinding.objects.create(
        conversation=conversations[0],
        message_index=1,
        start=6,
        end=8,
        entity_type="PERSON",
        decision=FindingDecision.KEEP,
    )
    PiiFinding.objects.create(
        conversation=conversations[1], message_index=1, start=0, end=3, entity_type="EMAIL_ADDRESS"
    )
    Review.objects.create(
        conversation=conversations[0],
        dataset=dataset,
        reviewer=reviewer,
        decision="approve",
        scores={"tone": 4},
    )
    Review.objects.create(
        conversation=conversations[1],
        dataset=dataset,
        reviewer=reviewer,
        decision="reject",
        scores={},
    )
    Review.objects.create(
        conversation=conversations[0],
        dataset=dataset,
        reviewer=admin_user,
        decision="approve",
        scores={},
    )
    version = build(dataset, validation_fraction=0)
    stats = version.stats
    assert stats["reviewers"] == [
        {"username": "reviewer", "reviews": 2, "approvals": 1},
        {"username": "admin", "reviews": 1, "approvals": 1},
    ]
    assert {row["entity_type"]: row["redactions"] for row in stats["pii"]} == {
        "PERSON": 1,
        "EMAIL_ADDRESS": 1,
    }
    assert stats["scores"]["unscored"] == 1
    assert {row["from"]: row["examples"] for row in stats["scores"]["histogram"]}[4.0] == 4
    histogram = {row["from"]: row["examples"] for row in stats["tokens"]["histogram"]}
    # The two with redactions are counted on their exported (short) text, not the stored 300.
    assert histogram[256] == 2 and histogram[4096] == 1 and sum(histogram.values()) == 5
    assert stats["tokens"]["max_per_example"] == 5000


def test_a_built_version_cannot_be_changed(dataset):
    approved(dataset, 2)
    version = build(dataset)
    version.notes = "rewritten history"
    with pytest.raises(ImmutableVersionError):
        version.save()
    assert DatasetVersion.objects.get(pk=version.pk).notes == ""
    assert not version.retry()


def test_delete_removes_the_data_files_and_keeps_the_manifest(dataset, admin_user):
    approved(dataset, 10)
    version = build(dataset, validation_fraction=0.3)
    names = {name: info["name"] for name, info in version.files.items()}
    assert delete_version(version=version, user=admin_user)
    version.refresh_from_db()
    assert (
        version.status == VersionStatus.DELETED
        and version.deleted_by == admin_user
        and version.deleted_at
    )
    assert not default_storage.exists(names["train.jsonl"]) and not default_storage.exists(
        names["validation.jsonl"]
    )
    assert default_storage.exists(names["manifest.json"])
    assert manifest(version)["counts"]["examples"] == 10
    assert VersionExample.objects.filter(version=version).count() == 10
    assert [name for name, _ in version.available_files()] == ["manifest.json"]
    assert AuditEvent.objects.filter(
        action="version.delete", object_id=str(version.pk), actor=admin_user
    ).exists()
    assert not delete_version(version=version, user=admin_user)  # once only


def test_a_changed_file_is_detected(dataset):
    approved(dataset, 3)
    version = build(dataset, validation_fraction=0)
    verify_file(version, "train.jsonl")
    path = default_storage.path(version.files["train.jsonl"]["name"])
    with open(path, "r+b") as handle:
        handle.write(b"X")
    with pytest.raises(TamperedFileError, match="does not match its recorded sha256"):
        verify_file(version, "train.jsonl")
