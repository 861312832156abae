"""A conversation that ends with a user turn, or holds an empty user or system message, is
flagged (and so shown and filterable) instead of being exported without a word."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation import quality
from curation.flags import EMPTY_MESSAGE, ENDS_WITH_USER_TURN
from curation.models import QualityRun
from curation.services.quality import run_quality_job
from tests.curation.import_helpers import import_file

LIMIT = 65536


def flags(messages):  # type: ignore[no-untyped-def]
    return quality.signals(messages, token_count=10, token_limit=LIMIT)


def test_a_conversation_ending_with_a_user_turn_is_flagged():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "It left the depot this morning."},
        {"role": "user", "content": "And when does it arrive?"},
    ]
    assert ENDS_WITH_USER_TURN in flags(messages)
    assert ENDS_WITH_USER_TURN not in flags(messages[:3])


def test_an_empty_user_message_is_flagged_but_an_image_only_one_is_not():
    empty = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "  "},
        {"role": "assistant", "content": "How can I help you today?"},
    ]
    assert EMPTY_MESSAGE in flags(empty)
    image = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]},
        {"role": "assistant", "content": "That is a cat sitting on a chair."},
    ]
    assert EMPTY_MESSAGE not in flags(image)


@pytest.mark.django_db
def test_imported_conversations_carry_the_flags_and_the_list_filters_by_them(
    dataset, admin_user, client_for, tmp_path
):
    path = tmp_path / "turns.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": '
        '"Hello, how can I help?"}, {"role": "user", "content": "Thanks"}]}\n'
        '{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": '
        '"Did you mean to send something?"}]}\n'
    )
    batch = import_file(dataset, path)
    run_quality_job(run_id=QualityRun.objects.get(batch=batch).pk)
    by_flag = {
        flag: set(dataset.conversations.with_flag(flag).values_list("source_line", flat=True))
        for flag in (ENDS_WITH_USER_TURN, EMPTY_MESSAGE)
    }
    assert by_flag == {ENDS_WITH_USER_TURN: {1}, EMPTY_MESSAGE: {2}}
    page = client_for(admin_user).get(
        reverse("conversation_list", args=[dataset.slug]) + f"?flag={ENDS_WITH_USER_TURN}"
    )
    assert "Ends with a user turn" in page.content.decode()
