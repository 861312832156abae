"""Reviewing pairs: an edit of the final reply records a pair (original = rejected), a
reviewer swaps or unticks a pair, the review page shows prompt, chosen and rejected."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import AuditEvent, ConversationStatus, PairChoice, PairSource, PreferencePair
from curation.services.reviews.edits import edit_message
from curation.services.versions.build import run_build_job
from curation.services.versions.preview import create_version, normalize_filter
from tests.curation.version_helpers import lines
from tests.factories import ConversationFactory, PreferencePairFactory, chat

pytestmark = pytest.mark.django_db


def test_editing_the_final_reply_records_a_pair_with_the_original_as_rejected(dataset, reviewer):
    conversation = ConversationFactory(dataset=dataset, original=chat(assistant="Meh."))
    edit_message(
        conversation=conversation,
        user=reviewer,
        message_index=2,
        text="Mail jane.doe@example.com for a refund.",
    )
    pair = PreferencePair.objects.get(conversation=conversation)
    assert (pair.source, pair.choice, pair.reply_start) == (PairSource.EDIT, PairChoice.A, 2)
    assert pair.alternative == [{"role": "assistant", "content": "Meh."}]
    assert AuditEvent.objects.filter(action="pair.create", actor=reviewer).exists()
    # A second edit keeps the first original as the rejected reply.
    edit_message(conversation=conversation, user=reviewer, message_index=2, text="Better still.")
    assert PreferencePair.objects.get(conversation=conversation).alternative[0]["content"] == "Meh."
    conversation.status = ConversationStatus.APPROVED
    conversation.save()
    version = create_version(
        dataset=dataset,
        user=None,
        filter=normalize_filter(),
        enqueue=False,
        validation_fraction=0,
        format="preference",
    )
    run_build_job(version_id=version.pk)
    version.refresh_from_db()
    [row] = lines(version, "train.jsonl")
    assert row["preferred_output"] == [{"role": "assistant", "content": "Better still."}]
    assert row["non_preferred_output"] == [{"role": "assistant", "content": "Meh."}]


def test_editing_an_earlier_message_records_no_pair(dataset, reviewer):
    conversation = ConversationFactory(
        dataset=dataset,
        original=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Goodbye."},
        ],
    )
    edit_message(conversation=conversation, user=reviewer, message_index=1, text="Hey.")
    assert not PreferencePair.objects.filter(conversation=conversation).exists()


def test_the_review_page_shows_both_replies_escaped_and_the_reviewer_swaps_and_unticks(
    dataset, reviewer, client_for
):
    conversation = ConversationFactory(
        dataset=dataset, original=chat(user="Pick one", assistant="<b>first</b>")
    )
    pair = PreferencePairFactory(
        conversation=conversation, alternative=[{"role": "assistant", "content": "<i>second</i>"}]
    )
    client = client_for(reviewer)
    page = client.get(reverse("review_conversation", args=[dataset.slug, conversation.pk]))
    html = page.content.decode()
    assert "Preference pair" in html and "&lt;i&gt;second&lt;/i&gt;" in html
    assert "<i>second</i>" not in html
    url = reverse("review_pair", args=[dataset.slug, conversation.pk])
    assert client.post(url, {"action": "swap"}).status_code == 302
    pair.refresh_from_db()
    assert pair.choice == PairChoice.B
    client.post(url, {"action": "untick"})
    pair.refresh_from_db()
    assert pair.active is False
    assert AuditEvent.objects.filter(action="pair.untick", actor=reviewer).exists()


def test_pair_actions_need_membership_and_post(dataset, reviewer, outsider, client_for):
    pair = PreferencePairFactory(conversation=ConversationFactory(dataset=dataset))
    url = reverse("review_pair", args=[dataset.slug, pair.conversation_id])
    assert client_for(outsider).post(url, {"action": "swap"}).status_code in (403, 404)
    assert client_for(reviewer).get(url).status_code == 405
    anonymous = client_for(None).post(url, {"action": "swap"})
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    pair.refresh_from_db()
    assert pair.choice == PairChoice.A
    other = ConversationFactory(dataset=dataset)
    missing = reverse("review_pair", args=[dataset.slug, other.pk])
    assert client_for(reviewer).post(missing, {"action": "swap"}).status_code == 404
