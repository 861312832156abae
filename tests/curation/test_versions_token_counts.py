"""A version's token counts are those of the text it exports (redacted), and its manifest
names the encoding they were counted with."""

from __future__ import annotations

import json

import pytest

from curation.models import ConversationStatus, FindingDecision, FindingSource, PiiFinding
from tests.curation.version_helpers import approved, build, cookbook_tokens, manifest, read
from tests.factories import ConversationFactory, PreferencePairFactory

pytestmark = pytest.mark.django_db

EMAIL = "maria.gonzalez@example.org"


def test_manifest_tokens_count_the_redacted_text_and_name_the_encoding(dataset, admin_user):
    dataset.pii_operator = "surrogate"
    dataset.save()
    text = f"Please write to {EMAIL} or {EMAIL} about my refund, thanks."
    (conversation,) = approved(
        dataset,
        original=[
            {"role": "user", "content": text},
            {"role": "assistant", "content": "Done, you will hear from us today."},
        ],
        token_count=99,  # the original's count, which the export must not reuse
        assistant_tokens=9,
    )
    start = text.index(EMAIL)
    PiiFinding.objects.create(
        conversation=conversation,
        message_index=0,
        start=start,
        end=start + len(EMAIL),
        entity_type="EMAIL_ADDRESS",
        source=FindingSource.DETECTOR,
        decision=FindingDecision.REDACT,
    )

    version = build(dataset, user=admin_user, validation_fraction=0.0)

    exported = [json.loads(line) for line in read(version, "train.jsonl").splitlines()]
    assert EMAIL not in json.dumps(exported)
    expected = cookbook_tokens(exported[0]["messages"])
    data = manifest(version)
    assert data["tokens"]["encoding"] == "o200k_base"
    assert data["tokens"]["total"] == expected == version.total_tokens
    assert expected != 99


def test_a_preference_version_counts_prompt_chosen_and_rejected(dataset, admin_user):
    conversation = ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.APPROVED,
        original=[
            {"role": "user", "content": "Which plan suits a team of five?"},
            {"role": "assistant", "content": "The Team plan: five seats and shared billing."},
        ],
        token_count=7,
    )
    PreferencePairFactory(
        conversation=conversation,
        alternative=[{"role": "assistant", "content": "Any plan works, I guess."}],
    )

    version = build(dataset, user=admin_user, format="preference", validation_fraction=0.0)

    (line,) = [json.loads(raw) for raw in read(version, "train.jsonl").splitlines()]
    messages = [
        *line["input"]["messages"],
        *line["preferred_output"],
        *line["non_preferred_output"],
    ]
    assert [m["role"] for m in messages][-2:] == ["assistant", "assistant"]
    data = manifest(version)
    assert data["tokens"]["total"] == cookbook_tokens(messages) == version.total_tokens
    assert data["tokens"]["encoding"] == "o200k_base"
