"""The review-queue quality score: bounds, monotonicity, blocking flags."""

from __future__ import annotations

import itertools

import pytest

from curation import quality
from curation.quality import (
    BLOCKING_FLAGS,
    DEGENERATE_REPETITION,
    NEAR_DUPLICATE,
    NO_SYSTEM_MESSAGE,
    OVER_TOKEN_LIMIT,
    SHORT_ASSISTANT_REPLY,
    quality_score,
)

ALL_FLAGS = sorted({*quality.SIGNAL_FLAGS, *BLOCKING_FLAGS, NEAR_DUPLICATE, "made_up_flag"})


def test_clean_example_scores_one() -> None:
    assert quality_score([], token_count=200, assistant_tokens=80) == 1.0


def test_score_stays_in_bounds_for_every_flag_combination() -> None:
    for size in range(len(ALL_FLAGS) + 1):
        for flags in itertools.combinations(ALL_FLAGS, size):
            for token_count, assistant_tokens in [(0, 0), (100, 0), (100, 5), (100, 100)]:
                score = quality_score(
                    list(flags), token_count=token_count, assistant_tokens=assistant_tokens
                )
                assert 0.0 <= score <= 1.0


def test_adding_a_flag_never_raises_the_score() -> None:
    for size in range(len(ALL_FLAGS)):
        for flags in itertools.combinations(ALL_FLAGS, size):
            before = quality_score(list(flags), token_count=100, assistant_tokens=40)
            for extra in set(ALL_FLAGS) - set(flags):
                after = quality_score([*flags, extra], token_count=100, assistant_tokens=40)
                assert after <= before, (flags, extra)


@pytest.mark.parametrize("flag", ALL_FLAGS)
def test_every_flag_lowers_a_clean_score(flag: str) -> None:
    assert quality_score([flag], token_count=100, assistant_tokens=40) < 1.0


def test_every_blocked_example_scores_below_every_unblocked_one() -> None:
    blocked, unblocked = [], []
    for size in range(len(ALL_FLAGS) + 1):
        for flags in itertools.combinations(ALL_FLAGS, size):
            for assistant_tokens in (0, 5, 40):
                score = quality_score(
                    list(flags), token_count=100, assistant_tokens=assistant_tokens
                )
                (blocked if BLOCKING_FLAGS & set(flags) else unblocked).append(score)
    assert max(blocked) < min(unblocked)
    assert max(blocked) <= quality.BLOCKING_CAP


def test_more_blocking_flags_score_lower() -> None:
    one = quality_score([OVER_TOKEN_LIMIT], token_count=100, assistant_tokens=40)
    two = quality_score(
        [OVER_TOKEN_LIMIT, DEGENERATE_REPETITION], token_count=100, assistant_tokens=40
    )
    assert 0 < two < one


def test_more_assistant_tokens_never_lower_the_score() -> None:
    scores = [
        quality_score([NO_SYSTEM_MESSAGE], token_count=1000, assistant_tokens=tokens)
        for tokens in range(0, 1001, 10)
    ]
    assert scores == sorted(scores)
    assert scores[0] < scores[-1]


def test_duplicate_flags_count_once() -> None:
    once = quality_score([SHORT_ASSISTANT_REPLY], token_count=100, assistant_tokens=40)
    twice = quality_score([SHORT_ASSISTANT_REPLY] * 2, token_count=100, assistant_tokens=40)
    assert once == twice


def test_negative_token_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        quality_score([], token_count=-1, assistant_tokens=0)


# -- near-duplicates -------------------------------------------------------------------

# A 300-word vocabulary: random texts from it share few 5-word shingles by chance.
