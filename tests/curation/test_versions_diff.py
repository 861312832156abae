"""Comparing two versions: added, removed with the reason, edited with a word diff of the
exported text, moved; any two versions picked with a plain form."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from curation.models import (
    Conversation,
    ConversationRevision,
    ConversationStatus,
    DatasetVersion,
    PiiFinding,
    VersionStatus,
)
from curation.services.versions.build import run_build_job
from curation.services.versions.diff import diff_counts, iter_diff, word_diff
from curation.services.versions.files import delete_version
from curation.services.versions.preview import create_version, normalize_filter
from tests.factories import ConversationFactory, chat

pytestmark = pytest.mark.django_db


def build(dataset, *, min_score=None, **options) -> DatasetVersion:  # type: ignore[no-untyped-def]
    version = create_version(
        dataset=dataset,
        user=None,
        filter=normalize_filter(min_score=min_score),
        enqueue=False,
        validation_fraction=0,
        **options,
    )
    run_build_job(version_id=version.pk)
    version = DatasetVersion.objects.select_related("dataset").get(pk=version.pk)
    assert version.status == VersionStatus.SUCCEEDED, version.error
    return version


@pytest.fixture
def history(dataset):  # type: ignore[no-untyped-def]
    """v1 and v2 with one example of each kind of change between them."""
    make = ConversationFactory.create_batch
    kept, edited, rejected, deleted, unreviewed, low, into, merged = make(
        8, dataset=dataset, status=ConversationStatus.APPROVED, score_avg=4.0
    )
    first = build(dataset, min_score=3)
    added = ConversationFactory(dataset=dataset, status=ConversationStatus.APPROVED, score_avg=5)
    ConversationRevision.objects.create(
        conversation=edited,
        message_index=2,
        before="Hi! How can I help?",
        after="Hi! How can I <b>really</b> help you?",
    )
    Conversation.objects.filter(pk=rejected.pk).update(status=ConversationStatus.REJECTED)
    Conversation.objects.filter(pk=unreviewed.pk).update(status=ConversationStatus.IN_REVIEW)
    Conversation.objects.filter(pk=low.pk).update(score_avg=2.0)
    Conversation.objects.filter(pk=merged.pk).update(original=into.original)
    deleted.delete()
    second = build(dataset, min_score=3)
    return {
        "first": first,
        "second": second,
        "kept": kept,
        "edited": edited,
        "rejected": rejected,
        "deleted": deleted,
        "unreviewed": unreviewed,
        "low": low,
        "merged": merged,
        "into": into,
        "added": added,
    }


def test_removed_examples_carry_their_reason(history):
    entries = {
        entry.conversation_id: entry for entry in iter_diff(history["first"], history["second"])
    }
    reasons = {
        name: entries[history[name].pk if name != "deleted" else deleted_id(history)].reason
        for name in ("rejected", "unreviewed", "low", "merged")
    }
    assert reasons == {
        "rejected": "rejected",
        "unreviewed": "in_review",
        "low": "filtered",
        "merged": "merged",
    }
    assert entries[history["merged"].pk].merged_into == history["into"].pk
    assert entries[history["added"].pk].kind == "added"
    assert entries[history["edited"].pk].kind == "edited"
    assert history["kept"].pk not in entries
    counts = diff_counts(history["first"], history["second"])
    assert counts["removed"] == 5 and counts["removed_by_reason"] == {
        "merged": 1,
        "rejected": 1,
        "in_review": 1,
        "deleted": 1,
        "filtered": 1,
    }
    assert (counts["added"], counts["edited"], counts["moved"], counts["unchanged"]) == (1, 1, 0, 2)


def deleted_id(history) -> int:  # type: ignore[no-untyped-def]
    ids = set(history["first"].members.values_list("conversation_id", flat=True))
    alive = set(Conversation.objects.values_list("id", flat=True))
    [gone] = ids - alive
    return gone


def test_diff_page_shows_reasons_and_the_edited_words_escaped(history, reviewer, client_for):
    first, second = history["first"], history["second"]
    page = client_for(reviewer).get(
        reverse("version_diff", args=[first.dataset.slug, first.number, second.number])
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "back in review" in html and "deleted from the dataset (purged)" in html
    assert "merged as a duplicate of <a href=" in html and f"#{history['into'].pk}</a>" in html
    assert "excluded by v2's filter" in html
    # Per word: only the new words are marked, and the reviewer's markup is shown as text.
    assert (
        "<ins>&lt;b&gt;really&lt;/b&gt; </ins>" in html or "<ins>&lt;b&gt;really&lt;/b&gt;" in html
    )
    assert "<b>really</b>" not in html
    assert "<ins> you</ins>" in html


def test_edited_text_is_not_shown_once_a_version_is_deleted(history, admin_user, client_for):
    first, second = history["first"], history["second"]
    delete_version(version=first, user=admin_user)
    page = client_for(admin_user).get(
        reverse("version_diff", args=[first.dataset.slug, first.number, second.number])
    )
    assert page.status_code == 200
    assert b"files of one of the versions were deleted" in page.content
    assert page.context["counts"]["edited"] == 1


def test_json_diff_lists_reasons(history, reviewer, client_for):
    first, second = history["first"], history["second"]
    response = client_for(reviewer).get(
        reverse("version_diff_json", args=[first.dataset.slug, first.number, second.number])
    )
    document = json.loads(b"".join(response.streaming_content))
    reasons = {item["id"]: item["reason"] for item in document["removed"]}
    assert reasons[history["merged"].pk] == "merged"
    assert [item["id"] for item in document["edited"]] == [history["edited"].pk]
    assert document["counts"]["removed_by_reason"]["rejected"] == 1


def test_any_two_versions_are_picked_with_a_plain_form(dataset, reviewer, client_for):
    ConversationFactory.create_batch(3, dataset=dataset, status=ConversationStatus.APPROVED)
    for _ in range(3):
        build(dataset)
    client = client_for(reviewer)
    url = reverse("version_compare", args=[dataset.slug])
    response = client.get(url, {"a": "3", "b": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("version_diff", args=[dataset.slug, 3, 1])
    same = client.get(url, {"a": "2", "b": "2"})
    assert same.status_code == 200 and b"Pick two different versions." in same.content
    unknown = client.get(url, {"a": "9", "b": "1"})
    assert unknown.status_code == 200 and unknown.context["pair_form"].errors["a"]
    listing = client.get(reverse("version_list", args=[dataset.slug]))
    assert b'name="a"' in listing.content and b'<option value="2" selected>' in listing.content
    diff = client.get(reverse("version_diff", args=[dataset.slug, 1, 3]))
    assert b'<option value="3" selected>v3</option>' in diff.content


def test_word_diff_marks_only_changed_words():
    assert word_diff("Book a flight to Paris", "Book a train to Paris") == [
        ("=", "Book a "),
        ("-", "flight"),
        ("+", "train"),
        ("=", " to Paris"),
    ]


def test_redaction_change_shows_as_an_edit(dataset):
    conversation = ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.APPROVED,
        original=chat(user="Call Maria Lopez tomorrow", system=None),
    )
    first = build(dataset)
    PiiFinding.objects.create(
        conversation=conversation, message_index=0, start=5, end=16, entity_type="PERSON"
    )
    second = build(dataset)
    [entry] = list(iter_diff(first, second))
    assert entry.kind == "edited"
