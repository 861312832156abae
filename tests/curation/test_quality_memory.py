"""The quality follow-up job keeps within the import's memory bounds on long conversations,
with the same results as before."""

from __future__ import annotations

import random

import pytest
from datasketch import MinHash

from curation import quality
from curation.models import Conversation, QualityRun
from curation.quality import minhash as minhash_module
from curation.services import quality as quality_service
from tests.factories import ConversationFactory


def reference_signature(messages):  # type: ignore[no-untyped-def]
    template = minhash_module._template(quality.DEFAULT_NUM_PERM)
    minhash = MinHash(
        num_perm=quality.DEFAULT_NUM_PERM,
        seed=quality.MINHASH_SEED,
        hashvalues=template.hashvalues.copy(),
        permutations=template.permutations,
        scheme="affine32",
    )
    minhash.update_batch(quality.shingles(quality.dedup_text(messages)))
    return minhash.hashvalues.astype("<u4").tobytes()


def test_minhash_of_a_long_conversation_is_computed_in_slices_with_the_same_signature():
    rng = random.Random(3)
    words = ["Alpha", "beta", "ﬁne", "naïve", "日本語", "x1", "hello-world", "Straße"]
    text = " ".join(rng.choice(words) for _ in range(120_000))
    messages = [
        {"role": "user", "content": text},
        {"role": "assistant", "content": text[::-1]},
    ]
    assert len(text) > 4 * minhash_module._PIECE_CHARS
    assert quality.minhash_signature(messages) == reference_signature(messages)
    bound = quality.SHINGLE_BATCH + minhash_module._PIECE_CHARS // 2
    assert all(len(b) <= bound for b in minhash_module._shingle_batches(text))


def test_a_loop_far_into_a_long_reply_is_still_found():
    rng = random.Random(4)
    prose = " ".join(
        rng.choice(["the", "river", "bank", "opened", "late", "today", "and", "so", "on"])
        + str(rng.randint(0, 10**6))
        for _ in range(100_000)
    )
    loop = "I will keep saying the same long sentence about the very same thing. " * 40
    assert len(prose) > 2 * quality.LOOP_WINDOW_CHARS
    assert not quality.is_degenerate_repetition(prose)
    assert quality.is_degenerate_repetition(prose + " " + loop)


@pytest.mark.django_db
def test_the_quality_job_reads_conversations_in_byte_bounded_chunks(dataset, settings, monkeypatch):
    settings.CURATOR_IMPORT_CHUNK_BYTES = 20_000
    rng = random.Random(5)
    for n in range(6):
        text = " ".join(str(rng.random()) for _ in range(1000))
        ConversationFactory(
            dataset=dataset,
            original=[
                {"role": "user", "content": f"{n} {text}"},
                {"role": "assistant", "content": text},
            ],
        )
    seen: list[int] = []
    real = quality_service.refresh_quality

    def spy(*, conversation_ids):  # type: ignore[no-untyped-def]
        ids = list(conversation_ids)
        seen.append(len(ids))
        return real(conversation_ids=ids)

    monkeypatch.setattr(quality_service, "refresh_quality", spy)
    run = QualityRun.objects.create(dataset=dataset)
    quality_service.run_quality_job(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert sum(seen) == 6 and max(seen) <= 2
    assert Conversation.objects.filter(dataset=dataset, minhash__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_conversation_too_long_for_a_tsvector_is_indexed_by_its_start(dataset):
    rng = random.Random(6)
    unique_words = " ".join(f"w{rng.getrandbits(64):x}" for _ in range(200_000))
    # Built and saved as an import stores it: the search column is the quality job's to fill.
    long = ConversationFactory.build(
        dataset=dataset,
        original=[
            {"role": "user", "content": "Findme " + unique_words},
            {"role": "assistant", "content": "Noted."},
        ],
    )
    long.save()
    short = ConversationFactory(dataset=dataset)
    run = QualityRun.objects.create(dataset=dataset)
    quality_service.run_quality_job(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert Conversation.objects.filter(pk=long.pk, search_vector="findme").exists()
    assert Conversation.objects.filter(pk=short.pk, search_vector__isnull=False).exists()
