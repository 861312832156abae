"""PII detection and redaction cover both replies of a pair, consistently with the prompt."""

from __future__ import annotations

import pytest

from curation.models import FindingDecision, PreferencePair
from curation.selectors.redaction import redacted_messages, redacted_pair
from curation.services.pii.findings import add_reviewer_findings
from curation.services.pii.retention import purge_originals
from tests.conftest import DATA
from tests.curation.import_helpers import import_file
from tests.curation.test_pii_workflow import detect_now, queued_nowhere  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_value_in_the_prompt_is_redacted_the_same_way_in_both_replies(dataset, queued_nowhere):  # noqa: F811
    batch = import_file(dataset, DATA / "preference" / "hh_rlhf.jsonl")
    detect_now(dataset)
    pair = PreferencePair.objects.get(conversation__batch=batch, conversation__source_line=2)
    conversation = pair.conversation
    # Findings in the rejected reply index it after the conversation's own messages.
    assert conversation.findings.filter(
        message_index=len(conversation.original), decision=FindingDecision.REDACT
    ).exists()
    prompt, chosen, rejected = redacted_pair(conversation)
    everything = str([prompt, chosen, rejected])
    assert "maria.gonzalez@example.org" not in everything
    assert "Maria Gonzalez" not in everything
    assert "<EMAIL_ADDRESS_1>" in prompt[0]["content"]
    assert rejected[0]["content"].count("<EMAIL_ADDRESS_1>") == 1
    assert "<PERSON_1>" in prompt[0]["content"]
    assert "<PERSON_1>" in chosen[0]["content"] and "<PERSON_1>" in rejected[0]["content"]
    # The conversation's own redacted view is the prompt and the chosen reply.
    assert redacted_messages(conversation) == [*prompt, *chosen]


def test_a_reviewer_redaction_of_a_value_only_in_the_rejected_reply_applies_there(
    dataset,
    reviewer,
    queued_nowhere,  # noqa: F811
):
    batch = import_file(dataset, DATA / "preference" / "trl_preference.jsonl")
    detect_now(dataset)
    pair = PreferencePair.objects.get(conversation__batch=batch, conversation__source_line=2)
    add_reviewer_findings(
        conversation=pair.conversation, text="read", entity_type="SECRET", user=reviewer
    )
    _, chosen, rejected = redacted_pair(pair.conversation)
    assert rejected[0]["content"] == "I don't <SECRET_1>."
    assert "SECRET" not in chosen[0]["content"]


def test_purge_keeps_only_the_redacted_alternative(dataset, admin_user, queued_nowhere):  # noqa: F811
    batch = import_file(dataset, DATA / "preference" / "hh_rlhf.jsonl")
    detect_now(dataset)
    pair = PreferencePair.objects.get(conversation__batch=batch, conversation__source_line=2)
    before = redacted_pair(pair.conversation)
    pair.conversation.status = "approved"
    pair.conversation.save()
    purge_originals(dataset=dataset, user=admin_user)
    pair.refresh_from_db()
    assert "maria.gonzalez" not in str(pair.alternative)
    conversation = pair.conversation
    conversation.refresh_from_db()
    assert redacted_pair(conversation) == before
