"""A reviewer's edit of an assistant message: saved as a revision (the original kept), then
the tokens recounted, the message rescanned for PII, the quality signals refreshed and, for
an edit of the final reply, a preference pair recorded."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connections, transaction

from curation.models import AuditEvent, Conversation, ConversationRevision, Dataset
from curation.pii.engine import PiiConfig, get_engine
from curation.selectors.redaction import pii_config_for
from curation.services.pii.findings import rescan_messages
from curation.services.preference_reviews import pair_record_edit
from curation.services.quality import refresh_quality
from curation.services.reviews.errors import ReviewError
from curation.texts import message_text
from curation.token_count import count_conversations


def edit_message(
    *, conversation: Conversation, user: Any, message_index: int, text: str
) -> ConversationRevision | None:
    """Save a reviewer's new text for an assistant message as a revision (the original is
    kept), then recount tokens, rescan the message for PII and refresh quality signals.
    Returns None when the text did not change."""
    messages = conversation.current_messages()
    if not 0 <= message_index < len(messages) or messages[message_index].get("role") != "assistant":
        raise ReviewError("Only assistant messages can be edited.")
    text = text.replace("\r\n", "\n")
    before = message_text(messages[message_index])
    if text == before:
        return None
    if not text.strip() and not messages[message_index].get("tool_calls"):
        raise ReviewError("An assistant reply cannot be empty; reject the conversation instead.")
    with transaction.atomic():
        revision = ConversationRevision.objects.create(
            conversation=conversation,
            message_index=message_index,
            before=before,
            after=text,
            author=user,
        )
        _recount_tokens(conversation)
        AuditEvent.record(
            actor=user,
            action="conversation.edit",
            obj=conversation,
            dataset=conversation.dataset,
            message_index=message_index,
            revision=revision.pk,
            chars_before=len(before),
            chars_after=len(text),
        )
    rescan_messages(conversation=conversation, message_indexes=[message_index])
    # An edit of the final reply teaches a preference: original = rejected, edit = chosen.
    pair_record_edit(conversation=conversation, message_index=message_index, user=user)
    refresh_quality(conversation_ids=[conversation.pk])
    conversation.refresh_from_db()
    return revision


def _recount_tokens(conversation: Conversation) -> None:
    [(tokens, assistant_tokens)] = count_conversations(
        [(conversation.current_messages(), conversation.tools)]
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        token_count=tokens, assistant_tokens=assistant_tokens
    )
    conversation.token_count, conversation.assistant_tokens = tokens, assistant_tokens


WARM_UP_DATASETS = 20


def warm_up() -> None:
    """Load what a reviewer's first edit needs (the token encoding, the PII engine, and the
    recognizers of each recent dataset's PII settings, whose patterns compile on first use:
    seconds in all on a small machine) so the first Save after a server start is as quick
    as the rest. The web server calls this in a background thread at start
    (CURATOR_WARM_UP)."""
    count_conversations([([{"role": "assistant", "content": "Warming up."}], None)])
    engine = get_engine()
    configs = {PiiConfig().cache_key(): PiiConfig()}
    try:
        for dataset in Dataset.objects.order_by("-id")[:WARM_UP_DATASETS]:
            config = pii_config_for(dataset)
            configs.setdefault(config.cache_key(), config)
    except DatabaseError:
        pass  # not migrated yet: the defaults are still worth loading
    finally:
        connections.close_all()
    for config in configs.values():
        engine.analyze_texts(["Warming up for Ada Lovelace, ada@example.com."], config)
