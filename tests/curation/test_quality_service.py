"""Quality signals as stored: each flag wired from `curation.quality` onto conversations,
near-duplicate clusters, refresh after an edit, and the import hook."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from curation.models import Conversation
from curation.services.quality import cluster_near_duplicates_for_dataset, refresh_quality
from curation.services.reviews.edits import edit_message
from tests.conftest import REFERENCE
from tests.curation.test_imports import import_file as import_only
from tests.factories import ConversationFactory, UserFactory, chat


def import_file(dataset, path):  # type: ignore[no-untyped-def]
    """Import, then run the follow-up quality job the import queued, as a worker would."""
    from curation.models import QualityRun
    from curation.services.quality import run_quality_job

    batch = import_only(dataset, path)
    run = QualityRun.objects.get(batch=batch)
    run_quality_job(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return batch


pytestmark = pytest.mark.django_db

BANANA = "Eat a banana!" * 2000  # the cookbook's degenerate example
LONG_ANSWER = (
    "To reset your password open the account page, choose security, then press the reset button. "
    "You will receive an e-mail with a link that stays valid for one hour; follow it and pick a new "
    "password of at least twelve characters. If the e-mail does not arrive, check the spam folder "
    "and make sure the address on file is current, then ask again from the same page."
)


def refreshed(conversation: Conversation) -> Conversation:
    refresh_quality(conversation_ids=[conversation.pk])
    return Conversation.objects.get(pk=conversation.pk)


@pytest.mark.parametrize(
    ("messages", "token_count", "flag"),
    [
        (chat(assistant=BANANA), 8000, "degenerate_repetition"),
        (chat(assistant="   "), 30, "empty_assistant_reply"),
        (chat(assistant="Sure."), 30, "short_assistant_reply"),
        (
            [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}],
            30,
            "no_assistant_reply",
        ),
        (chat(system=None, assistant=LONG_ANSWER), 90, "no_system_message"),
        (
            [{"role": "system", "content": "S"}, {"role": "assistant", "content": LONG_ANSWER}],
            90,
            "no_user_message",
        ),
        (chat(assistant=LONG_ANSWER), 10**6, "over_token_limit"),
    ],
)
def test_each_signal_is_stored_as_a_flag(dataset, messages, token_count, flag):
    conversation = refreshed(
        ConversationFactory(dataset=dataset, original=messages, token_count=token_count)
    )
    assert flag in conversation.flags
    assert conversation.quality_score is not None and 0 <= conversation.quality_score <= 1


def test_a_clean_conversation_has_no_flag_a_high_score_and_passes(dataset):
    conversation = refreshed(
        ConversationFactory(
            dataset=dataset,
            original=chat(assistant=LONG_ANSWER),
            token_count=90,
            assistant_tokens=70,
        )
    )
    assert conversation.flags == []
    assert conversation.quality_score == 1.0
    assert len(conversation.minhash) == 64 and all(
        0 <= value < 2**32 for value in conversation.minhash
    )
    assert Conversation.objects.passing().filter(pk=conversation.pk).exists()


def test_blocking_flags_fail_passing_and_sink_the_score(dataset):
    banana = refreshed(
        ConversationFactory(dataset=dataset, original=chat(assistant=BANANA), token_count=8000)
    )
    short = refreshed(
        ConversationFactory(dataset=dataset, original=chat(assistant="Sure."), token_count=30)
    )
    passing = set(Conversation.objects.passing().values_list("id", flat=True))
    assert banana.pk not in passing  # degenerate repetition blocks
    assert short.pk in passing  # a short reply only warns
    assert banana.quality_score <= 0.2 < short.quality_score


def test_refresh_keeps_flags_it_does_not_own(dataset):
    conversation = ConversationFactory(
        dataset=dataset,
        original=chat(assistant=LONG_ANSWER),
        flags=["near_duplicate", "short_assistant_reply"],
    )
    assert refreshed(conversation).flags == ["near_duplicate"]


def test_near_duplicates_cluster_and_exact_copies_are_flagged_duplicate(dataset):
    base = ConversationFactory(
        dataset=dataset, original=chat(user="How do I reset my password?", assistant=LONG_ANSWER)
    )
    near = ConversationFactory(
        dataset=dataset,
        original=chat(
            user="How do I reset my password?",
            assistant=LONG_ANSWER.replace("same page.", "same screen."),
        ),
    )
    # Same user and assistant text, another system prompt: an exact copy for training purposes.
    copy = ConversationFactory(
        dataset=dataset,
        original=chat(
            system="You are terse.", user="How do I reset my password?", assistant=LONG_ANSWER
        ),
    )
    other = ConversationFactory(
        dataset=dataset,
        original=chat(
            user="What is the capital of France?", assistant="Paris is the capital of France."
        ),
    )
    ids = [base.pk, near.pk, copy.pk, other.pk]
    refresh_quality(conversation_ids=ids)
    result = cluster_near_duplicates_for_dataset(dataset=dataset)
    rows = {c.pk: c for c in Conversation.objects.filter(pk__in=ids)}
    assert result == {"clusters": 1, "clustered": 3, "duplicates": 1}
    assert (
        rows[base.pk].near_dup_cluster
        == rows[near.pk].near_dup_cluster
        == rows[copy.pk].near_dup_cluster
        == base.pk
    )
    assert rows[other.pk].near_dup_cluster is None and "near_duplicate" not in rows[other.pk].flags
    assert "near_duplicate" in rows[near.pk].flags and "duplicate" not in rows[near.pk].flags
    assert "duplicate" in rows[copy.pk].flags and "duplicate" not in rows[base.pk].flags
    assert rows[near.pk].quality_score < 1.0  # the near-duplicate penalty
    passing = set(Conversation.objects.passing().values_list("id", flat=True))
    assert copy.pk not in passing and base.pk in passing and near.pk in passing
    # The filter and the clusters page find them.
    assert set(
        Conversation.objects.filter(near_dup_cluster=base.pk).values_list("id", flat=True)
    ) == {base.pk, near.pk, copy.pk}


def test_leaving_a_cluster_clears_its_flags(dataset):
    one = ConversationFactory(dataset=dataset, original=chat(assistant=LONG_ANSWER))
    two = ConversationFactory(
        dataset=dataset, original=chat(system="Other.", assistant=LONG_ANSWER)
    )
    refresh_quality(conversation_ids=[one.pk, two.pk])
    cluster_near_duplicates_for_dataset(dataset=dataset)
    assert "duplicate" in Conversation.objects.get(pk=two.pk).flags
    edit_message(
        conversation=two,
        user=UserFactory(),
        message_index=2,
        text="An entirely different answer about billing cycles and invoices.",
    )
    cluster_near_duplicates_for_dataset(dataset=dataset)
    two = Conversation.objects.get(pk=two.pk)
    assert two.near_dup_cluster is None
    assert "duplicate" not in two.flags and "near_duplicate" not in two.flags


def test_an_edit_refreshes_the_signals(dataset):
    conversation = refreshed(
        ConversationFactory(dataset=dataset, original=chat(assistant=BANANA), token_count=8000)
    )
    assert "degenerate_repetition" in conversation.flags
    edit_message(conversation=conversation, user=UserFactory(), message_index=2, text=LONG_ANSWER)
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert "degenerate_repetition" not in conversation.flags
    assert conversation.token_count < 200  # recounted from the edited text
    assert Conversation.objects.passing().filter(pk=conversation.pk).exists()


def test_every_signal_is_a_filter_on_the_list(client_for, dataset, reviewer):
    banana = refreshed(
        ConversationFactory(
            dataset=dataset,
            original=chat(user="banana question", assistant=BANANA),
            token_count=8000,
        )
    )
    clean = refreshed(
        ConversationFactory(
            dataset=dataset,
            original=chat(user="clean question", assistant=LONG_ANSWER),
            token_count=90,
            assistant_tokens=70,
        )
    )
    client = client_for(reviewer)
    url = reverse("conversation_list", args=[dataset.slug])
    flagged = client.get(url, {"flag": "degenerate_repetition"}).content.decode()
    assert "banana question" in flagged and "clean question" not in flagged
    passing = client.get(url, {"flag": "passing"}).content.decode()
    assert "clean question" in passing and "banana question" not in passing
    low = client.get(url, {"quality_max": "0.5"}).content.decode()
    assert "banana question" in low and "clean question" not in low
    assert banana.pk != clean.pk


def test_import_computes_quality_and_clusters(dataset, tmp_path, clear_queues):
    path = tmp_path / "chats.jsonl"
    rows = [
        {"messages": chat(user="I'm hungry.", assistant=BANANA)},
        {"messages": chat(user="How do I reset my password?", assistant=LONG_ANSWER)},
        {
            "messages": chat(
                system="Be brief.", user="How do I reset my password?", assistant=LONG_ANSWER
            )
        },
        {"messages": chat(user="Thanks!", assistant="Sure.")},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    batch = import_file(dataset, path)
    stored = {c.source_line: c for c in Conversation.objects.filter(batch=batch)}
    assert "degenerate_repetition" in stored[1].flags
    assert stored[2].near_dup_cluster == stored[3].near_dup_cluster == stored[2].pk
    assert "duplicate" in stored[3].flags
    assert "short_assistant_reply" in stored[4].flags
    assert all(c.quality_score is not None and c.minhash for c in stored.values())


def test_cookbook_banana_example_is_flagged_on_import(dataset, clear_queues):
    batch = import_file(dataset, REFERENCE / "openai_cookbook_toy_chat_fine_tuning.jsonl")
    flagged = Conversation.objects.filter(batch=batch).with_flag("degenerate_repetition")
    assert flagged.count() == 1
    assert "Eat a banana!" in flagged.get().original[-1]["content"]
