"""Nothing un-redacted leaves a version (invariant 1): planted PII, reviewer edits, findings that do not fit."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from curation.models import (
    Conversation,
    ConversationStatus,
    PiiFinding,
    VersionExample,
    VersionStatus,
)
from curation.selectors.redaction import redacted_messages
from curation.services.versions.build import run_build_job
from curation.services.versions.files import (
    storage_name,
)
from curation.services.versions.preview import (
    create_version,
    normalize_filter,
)
from tests.curation.version_helpers import (
    PLANTED,
    approved,
    build,
    lines,
    planted_batch,
    read,
    redact_planted,
)

pytestmark = pytest.mark.django_db


def test_no_planted_pii_in_any_exported_file(dataset, admin_user, client_for):
    planted_batch(dataset)
    conversations = list(Conversation.objects.filter(dataset=dataset).select_related("dataset"))
    assert len(conversations) == 24
    for conversation in conversations:
        assert redact_planted(conversation) > 0
        # A finding the reviewer decided to keep must not undo another's redaction.
    Conversation.objects.filter(dataset=dataset).update(status=ConversationStatus.APPROVED)

    version = build(dataset, validation_fraction=0.5)
    assert version.train_examples and version.validation_examples

    exported = {
        name: read(version, name) for name in ("train.jsonl", "validation.jsonl", "manifest.json")
    }
    zipped = client_for(admin_user).get(reverse("version_zip", args=[dataset.slug, version.number]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content)))
    exported.update({f"zip:{name}": archive.read(name) for name in archive.namelist()})
    for name, data in exported.items():
        # Both as written and with JSON escapes undone (a value could hide behind \u escapes).
        text = data.decode()
        decoded = text.encode().decode("unicode_escape")
        for kind, value in PLANTED.items():
            assert value not in text, (name, kind)
            assert value not in decoded, (name, kind)
    assert "<EMAIL" in exported["train.jsonl"].decode() + exported["validation.jsonl"].decode()


def test_each_line_is_exactly_the_redacted_conversation(dataset):
    planted_batch(dataset)
    for conversation in Conversation.objects.filter(dataset=dataset).select_related("dataset"):
        redact_planted(conversation)
    Conversation.objects.filter(dataset=dataset).update(status=ConversationStatus.APPROVED)
    version = build(dataset, validation_fraction=0.3)
    by_id = {}
    for name in ("train.jsonl", "validation.jsonl"):
        members = VersionExample.objects.filter(version=version, split=name.split(".")[0]).order_by(
            "conversation_id"
        )
        for member, line in zip(members, read(version, name).splitlines(), strict=True):
            by_id[member.conversation_id] = line
            assert hashlib.sha256(line).hexdigest() == member.content_hash
    for conversation in Conversation.objects.filter(dataset=dataset).select_related("dataset"):
        assert json.loads(by_id[conversation.pk])["messages"] == redacted_messages(conversation)


def test_reviewer_edits_are_exported_and_redacted(dataset):
    from curation.models import ConversationRevision

    conversation = approved(dataset, 1)[0]
    ConversationRevision.objects.create(
        conversation=conversation,
        message_index=2,
        before="Hi! How can I help?",
        after="Write to help@acme.test, Sam.",
    )
    PiiFinding.objects.create(
        conversation=conversation, message_index=2, start=9, end=23, entity_type="EMAIL_ADDRESS"
    )
    version = build(dataset, validation_fraction=0)
    [line] = lines(version, "train.jsonl")
    assert line["messages"][2]["content"].startswith("Write to <EMAIL_ADDRESS")
    assert "help@acme.test" not in read(version, "train.jsonl").decode()


def test_a_finding_that_does_not_fit_fails_the_build_closed(dataset):
    _, bad = approved(dataset, 2)
    PiiFinding.objects.create(
        conversation=bad, message_index=1, start=5, end=500, entity_type="PERSON"
    )
    version = create_version(dataset=dataset, user=None, filter=normalize_filter(), enqueue=False)
    run_build_job(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED
    assert f"conversation {bad.pk} cannot be redacted" in version.error
    assert version.files == {} and not VersionExample.objects.filter(version=version).exists()
    assert not default_storage.exists(storage_name(version, "train.jsonl"))
