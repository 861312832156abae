"""Train/validation splits: no conversation in both, near-duplicates together, a kept split across versions, the documented hash rule."""

from __future__ import annotations

import hashlib

import pytest

from curation.models import (
    Conversation,
    ConversationStatus,
)
from curation.services.versions.preview import (
    normalize_filter,
    preview_version,
)
from curation.splits import split_of, validation_threshold
from tests.curation.version_helpers import approved, build, lines, manifest, splits_of

pytestmark = pytest.mark.django_db


def test_no_conversation_in_both_splits_and_near_duplicates_stay_together(dataset):
    singles = approved(dataset, 120)
    clustered = approved(dataset, 60)
    for number, conversation in enumerate(clustered):
        # 12 clusters of 5, each named by its first member's id.
        conversation.near_dup_cluster = clustered[number - number % 5].pk
        conversation.save(update_fields=["near_dup_cluster"])
    version = build(dataset, validation_fraction=0.5, seed=3)
    train_ids = {m["id"] for m in manifest(version)["examples"] if m["split"] == "train"}
    validation_ids = {m["id"] for m in manifest(version)["examples"] if m["split"] == "validation"}
    assert not train_ids & validation_ids
    assert train_ids | validation_ids == {c.pk for c in singles + clustered}
    assert len(lines(version, "train.jsonl")) == len(train_ids) == version.train_examples
    assert (
        len(lines(version, "validation.jsonl"))
        == len(validation_ids)
        == version.validation_examples
    )
    for start in range(0, 60, 5):
        members = {c.pk for c in clustered[start : start + 5]}
        assert members <= train_ids or members <= validation_ids
    # Clusters do split between train and validation as a whole (not all on one side).
    assert len({clustered[start].pk in train_ids for start in range(0, 60, 5)}) == 2


def test_a_conversation_keeps_its_split_in_later_versions(dataset):
    approved(dataset, 150)
    first = build(dataset, validation_fraction=0.2)
    approved(dataset, 100)
    Conversation.objects.filter(pk=min(splits_of(first))).update(status=ConversationStatus.REJECTED)
    second = build(dataset, validation_fraction=0.2)
    assert second.seed == first.seed  # the default seed follows the previous version
    before, after = splits_of(first), splits_of(second)
    common = set(before) & set(after)
    assert len(common) == 149
    assert all(before[i] == after[i] for i in common)
    # A larger fraction only moves examples from train to validation.
    third = build(dataset, validation_fraction=0.5)
    for conversation_id, split in splits_of(third).items():
        if after.get(conversation_id) == "validation":
            assert split == "validation"


def test_split_rule_is_the_documented_hash_and_sql_agrees(dataset):
    conversations = approved(dataset, 300)
    # 40 conversations in 4 near-duplicate clusters: each takes its cluster's split, not its own.
    for number, conversation in enumerate(conversations[:40]):
        conversation.near_dup_cluster = conversations[100 + number % 4].pk
        conversation.save(update_fields=["near_dup_cluster"])
    for fraction, seed in ((0.1, 0), (0.37, 12345), (0.0, 5), (0.9, 99)):
        threshold = validation_threshold(fraction)
        expected = {
            c.pk: "validation"
            if int(
                hashlib.sha256(f"{seed}:{c.near_dup_cluster or c.pk}".encode()).hexdigest()[:15], 16
            )
            < fraction * 16**15
            else "train"
            for c in Conversation.objects.filter(dataset=dataset)
        }
        assert {
            c.pk: split_of(c.pk, c.near_dup_cluster, seed=seed, threshold=threshold)
            for c in Conversation.objects.filter(dataset=dataset)
        } == expected
        preview = preview_version(
            dataset=dataset, filter=normalize_filter(), validation_fraction=fraction, seed=seed
        )
        assert preview.validation == sum(1 for split in expected.values() if split == "validation")
    with pytest.raises(ValueError):
        validation_threshold(1.0)
