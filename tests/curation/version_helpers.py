"""Helpers shared by the version tests: approved examples, builds, reading files, planted PII."""

from __future__ import annotations

import json

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from curation.models import (
    Conversation,
    ConversationStatus,
    DatasetVersion,
    FindingDecision,
    FindingSource,
    PiiFinding,
    VersionExample,
    VersionStatus,
)
from curation.services.imports import create_import_batch, run_import_job
from curation.services.versions.build import run_build_job
from curation.services.versions.preview import (
    create_version,
    normalize_filter,
)
from curation.token_count import get_encoding
from tests.factories import ConversationFactory

PLANTED = {
    "email": "maria.gonzalez@example.org",
    "phone": "(415) 555-0134",
    "card": "4111 1111 1111 1111",
    "ssn": "123-45-6789",
}


def approved(dataset, count: int = 1, **fields):  # type: ignore[no-untyped-def]
    return ConversationFactory.create_batch(
        count, dataset=dataset, status=ConversationStatus.APPROVED, **fields
    )


def build(
    dataset, *, user=None, min_score=None, exclude_flags=(), batches=(), **options
) -> DatasetVersion:  # type: ignore[no-untyped-def]
    version = create_version(
        dataset=dataset,
        user=user,
        filter=normalize_filter(min_score=min_score, exclude_flags=exclude_flags, batches=batches),
        enqueue=False,
        **options,
    )
    run_build_job(version_id=version.pk)
    version = DatasetVersion.objects.select_related("dataset").get(pk=version.pk)
    assert version.status == VersionStatus.SUCCEEDED, version.error
    return version


def read(version: DatasetVersion, name: str) -> bytes:
    with default_storage.open(version.files[name]["name"], "rb") as handle:
        return handle.read()


def lines(version: DatasetVersion, name: str) -> list[dict]:
    return [json.loads(line) for line in read(version, name).splitlines()]


def cookbook_tokens(messages: list[dict]) -> int:
    """OpenAI cookbook's num_tokens_from_messages (gpt-4o family) with tiktoken's o200k_base."""
    encoding = get_encoding("o200k_base")
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += 3
        for value in message.values():
            total += len(encoding.encode(value))
    return total


def manifest(version: DatasetVersion) -> dict:
    return json.loads(read(version, "manifest.json"))


def splits_of(version: DatasetVersion) -> dict[int, str]:
    return dict(
        VersionExample.objects.filter(version=version).values_list("conversation_id", "split")
    )


def planted_batch(dataset):  # type: ignore[no-untyped-def]
    rows = []
    for number in range(12):
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You are a bank's support assistant."},
                    {
                        "role": "user",
                        "content": f"Case {number}: mail me at {PLANTED['email']} or call {PLANTED['phone']}.",
                    },
                    {
                        "role": "assistant",
                        "content": f"Noted {PLANTED['email']}; I will call {PLANTED['phone']}.",
                    },
                ]
            }
        )
        rows.append(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": f"Case {number}: charge card {PLANTED['card']}, SSN {PLANTED['ssn']}.",
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {
                                    "name": "charge",
                                    "arguments": json.dumps(
                                        {"card": PLANTED["card"], "email": PLANTED["email"]}
                                    ),
                                },
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "charged"},
                    {
                        "role": "assistant",
                        "content": "Done; please never send card numbers in chat.",
                    },
                ]
            }
        )
    data = "\n".join(json.dumps(row) for row in rows).encode()
    batch = create_import_batch(
        dataset=dataset,
        uploaded=ContentFile(data, name="planted.jsonl"),
        original_name="planted.jsonl",
        fmt="auto",
        user=None,
        enqueue=False,
    )
    run_import_job(batch_id=batch.pk)
    return batch


def redact_planted(conversation: Conversation) -> int:
    """A redact finding over every occurrence of every planted value, as a reviewer would add."""
    from curation.pii.redaction import iter_text_fields

    findings = []
    for index, field, text in iter_text_fields(conversation.current_messages()):
        for kind, value in PLANTED.items():
            start = text.find(value)
            while start != -1:
                findings.append(
                    PiiFinding(
                        conversation=conversation,
                        message_index=index,
                        field=field,
                        start=start,
                        end=start + len(value),
                        entity_type=kind.upper(),
                        source=FindingSource.REVIEWER,
                        decision=FindingDecision.REDACT,
                    )
                )
                start = text.find(value, start + len(value))
    PiiFinding.objects.bulk_create(findings)
    return len(findings)
