"""A reviewer's edits: revisions, token and PII refresh, what may be edited."""

from __future__ import annotations

import pytest

from curation.models import AuditEvent, Conversation, ConversationRevision
from curation.services.reviews.edits import edit_message
from curation.services.reviews.errors import ReviewError
from tests.factories import (
    ConversationFactory,
    PiiFindingFactory,
    chat,
    member,
)

pytestmark = pytest.mark.django_db


def test_edit_saves_a_revision_keeps_the_original_and_refreshes_signals(dataset):
    conversation = ConversationFactory(
        dataset=dataset, original=chat(assistant="Sure."), token_count=20
    )
    alice = member(dataset, "alice")
    new_text = "Sure! Write to help@example.com and we will reset your password within the hour."
    revision = edit_message(conversation=conversation, user=alice, message_index=2, text=new_text)
    assert isinstance(revision, ConversationRevision)
    conversation.refresh_from_db()
    assert conversation.original[2]["content"] == "Sure."
    assert conversation.current_messages()[2]["content"] == new_text
    assert revision.before == "Sure." and revision.after == new_text
    assert ("del", "-Sure.") in revision.diff_lines() and (
        "add",
        f"+{new_text}",
    ) in revision.diff_lines()
    # Tokens were recounted from the edited text and the quality signals refreshed.
    assert conversation.assistant_tokens > 5
    assert "short_assistant_reply" not in conversation.flags
    assert conversation.quality_score is not None and conversation.minhash
    event = AuditEvent.objects.get(action="conversation.edit")
    assert event.actor == alice and event.details["message_index"] == 2


def test_edit_rescans_the_message_for_pii(dataset):
    conversation = ConversationFactory(dataset=dataset, original=chat(assistant="Happy to help."))
    stale = PiiFindingFactory(conversation=conversation, message_index=2, start=0, end=5)
    edit_message(
        conversation=conversation,
        user=member(dataset, "alice"),
        message_index=2,
        text="Please e-mail jane.doe@example.com for a refund.",
    )
    findings = list(conversation.findings.filter(message_index=2))
    assert stale.pk not in {finding.pk for finding in findings}
    assert any(finding.entity_type == "EMAIL_ADDRESS" for finding in findings)


def test_only_assistant_messages_can_be_edited_and_not_to_nothing(dataset):
    conversation = ConversationFactory(dataset=dataset)
    alice = member(dataset, "alice")
    with pytest.raises(ReviewError, match="assistant"):
        edit_message(conversation=conversation, user=alice, message_index=1, text="changed")
    with pytest.raises(ReviewError, match="empty"):
        edit_message(conversation=conversation, user=alice, message_index=2, text="   ")
    assert (
        edit_message(
            conversation=conversation,
            user=alice,
            message_index=2,
            text=conversation.original[2]["content"],
        )
        is None
    )
    assert not ConversationRevision.objects.exists()


def test_latest_revision_wins(dataset):
    conversation = ConversationFactory(dataset=dataset)
    ConversationRevision.objects.create(
        conversation=conversation, message_index=2, before="a", after="first edit"
    )
    ConversationRevision.objects.create(
        conversation=conversation, message_index=2, before="b", after="second edit"
    )
    fresh = Conversation.objects.get(pk=conversation.pk)
    assert fresh.current_messages()[2]["content"] == "second edit"
    assert fresh.current_messages()[1] == conversation.original[1]
