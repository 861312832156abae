from __future__ import annotations

import pytest

from curation.agreement import (
    LEVELS,
    coincidences,
    krippendorff_alpha,
    median,
    pairwise_agreement,
    units_from_reviews,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the worked example for
# "any number of observers, missing values": observers A-D code units 1-12 on a 1-5 scale
# (None = not coded). The paper reports alpha = 0.743 (nominal), 0.815 (ordinal) and 0.849
# (interval) for these data. The same matrix is the "C" example of R's irr::kripp.alpha;
# the ordinal value was also checked against the test-suite of the `krippendorff` Python
# package (pln-fing-udelar/fast-krippendorff, tests/test_krippendorff.py), which asserts
# 0.815 for this matrix.
A = [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None]
B = [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3]
C = [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None]
D = [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]
PAPER_UNITS = [list(values) for values in zip(A, B, C, D, strict=True)]

# The example of Wikipedia's "Krippendorff's alpha" article (3 coders, 15 units), for which
# the article gives nominal alpha = 0.691 and interval alpha = 0.811; the same package's
# tests assert 0.691358 and 0.810845.
_ = None
WIKI_A = [_, _, _, _, _, 3, 4, 1, 2, 1, 1, 3, 3, _, 3]
WIKI_B = [1, _, 2, 1, 3, 3, 4, 3, _, _, _, _, _, _, _]
WIKI_C = [_, _, 2, 1, 3, 4, 4, _, 2, 1, 1, 3, 3, _, 4]
WIKI_UNITS = [list(values) for values in zip(WIKI_A, WIKI_B, WIKI_C, strict=True)]


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_published_example(level: str, expected: float) -> None:
    alpha = krippendorff_alpha(PAPER_UNITS, level=level)  # type: ignore[arg-type]
    assert alpha is not None
    assert round(alpha, 3) == expected


@pytest.mark.parametrize(("level", "expected"), [("nominal", 0.691358), ("interval", 0.810845)])
def test_wikipedia_example(level: str, expected: float) -> None:
    alpha = krippendorff_alpha(WIKI_UNITS, level=level)  # type: ignore[arg-type]
    assert alpha is not None
    assert round(alpha, 6) == expected


def test_coincidences_count_every_pairable_value_once() -> None:
    matrix = coincidences(PAPER_UNITS)
    # 40 values sit in units with two or more values; unit 12 has one value and drops out.
    assert sum(matrix.values()) == pytest.approx(40)
    assert all(matrix[(c, k)] == pytest.approx(matrix[(k, c)]) for c, k in matrix)
    # Unit 1 is (1, 1, 1): six ordered pairs at weight 1/2 give three 1-1 coincidences;
    # unit 11 is (1, 1): two pairs at weight 1.
    only_unit_1_and_11 = [PAPER_UNITS[0], PAPER_UNITS[10]]
    assert coincidences(only_unit_1_and_11) == {(1, 1): pytest.approx(5.0)}


def test_mapping_input_gives_the_same_alpha() -> None:
    mapping = {f"unit-{index}": values for index, values in enumerate(PAPER_UNITS)}
    for level in LEVELS:
        assert krippendorff_alpha(mapping, level=level) == pytest.approx(
            krippendorff_alpha(PAPER_UNITS, level=level)
        )


@pytest.mark.parametrize("level", LEVELS)
def test_perfect_agreement_is_one(level: str) -> None:
    units = [[1, 1, 1], [2, 2, None], [5, 5, 5], [3, None, 3]]
    assert krippendorff_alpha(units, level=level) == 1.0  # type: ignore[arg-type]


def test_systematic_disagreement_is_negative() -> None:
    assert krippendorff_alpha([[1, 2], [2, 1]], level="nominal") == pytest.approx(-0.5)


def test_disagreement_on_a_single_unit_is_chance_level() -> None:
    assert krippendorff_alpha([[1, 2]], level="nominal") == pytest.approx(0.0)


@pytest.mark.parametrize(
    "units",
    [
        [],
        [[1], [2], [None, 3]],
        [[None, None]],
        [[4, 4], [4, 4, 4]],
    ],
    ids=["no-units", "no-unit-with-two-values", "all-missing", "no-variation"],
)
@pytest.mark.parametrize("level", LEVELS)
def test_undefined_alpha_is_none(units: list[list[int | None]], level: str) -> None:
    assert krippendorff_alpha(units, level=level) is None  # type: ignore[arg-type]


def test_interval_values_that_are_numerically_equal_have_no_variation() -> None:
    assert krippendorff_alpha([["2", 2], [2.0, "2"]], level="interval") is None


def test_ordinal_alpha_depends_on_order_not_spacing() -> None:
    stretch = {1: 1, 2: 20, 3: 300, 4: 4000, 5: 50000}
    stretched = [[None if v is None else stretch[v] for v in unit] for unit in PAPER_UNITS]
    assert krippendorff_alpha(stretched, level="ordinal") == pytest.approx(
        krippendorff_alpha(PAPER_UNITS, level="ordinal")
    )
    assert krippendorff_alpha(stretched, level="interval") != pytest.approx(
        krippendorff_alpha(PAPER_UNITS, level="interval")
    )


def test_interval_penalises_far_misses_more_than_near_ones() -> None:
    near = [[1, 1], [3, 3], [5, 5], [2, 3]]
    far = [[1, 1], [3, 3], [5, 5], [2, 5]]
    near_alpha = krippendorff_alpha(near, level="interval")
    far_alpha = krippendorff_alpha(far, level="interval")
    assert near_alpha is not None and far_alpha is not None
    assert near_alpha > far_alpha


def test_nominal_accepts_labels() -> None:
    units = [["approve", "approve"], ["reject", "reject"], ["approve", "reject"]]
    alpha = krippendorff_alpha(units, level="nominal")
    assert alpha is not None
    assert 0.0 < alpha < 1.0


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(PAPER_UNITS, level="ratio")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="comparable"):
        krippendorff_alpha([[1, "a"], [2, "b"]], level="ordinal")
    with pytest.raises(ValueError, match="numbers"):
        krippendorff_alpha([["low", "high"], ["high", "high"]], level="interval")


def test_units_from_reviews_lines_reviewers_up() -> None:
    reviews = {"ann": {10: 4, 11: 2}, "bob": {10: 5, 12: 1}}
    assert units_from_reviews(reviews) == {10: [4, 5], 11: [2, None], 12: [None, 1]}


def test_reviews_feed_alpha() -> None:
    reviews = {
        observer: {unit: value for unit, value in enumerate(values) if value is not None}
        for observer, values in {"A": A, "B": B, "C": C, "D": D}.items()
    }
    alpha = krippendorff_alpha(units_from_reviews(reviews), level="ordinal")
    assert alpha is not None
    assert round(alpha, 3) == 0.815


def test_pairwise_agreement_with_two_reviewers_is_the_share_of_agreeing_units() -> None:
    reviews = {
        "ann": {1: "approve", 2: "approve", 3: "reject", 4: "approve", 5: "approve"},
        "bob": {1: "approve", 2: "approve", 3: "reject", 4: "reject"},
    }
    assert pairwise_agreement(reviews) == {"ann": 0.75, "bob": 0.75}


def test_pairwise_agreement_with_three_reviewers() -> None:
    reviews = {
        "ann": {1: 4, 2: 3},
        "bob": {1: 4, 2: 3},
        "cat": {1: 2, 2: 3},
    }
    # Unit 1: ann agrees with one of two others, cat with none; unit 2: everyone agrees.
    assert pairwise_agreement(reviews) == {
        "ann": pytest.approx((0.5 + 1.0) / 2),
        "bob": pytest.approx((0.5 + 1.0) / 2),
        "cat": pytest.approx((0.0 + 1.0) / 2),
    }


def test_pairwise_agreement_without_shared_units_is_none() -> None:
    reviews = {"ann": {1: 4}, "bob": {2: 4, 3: None}, "cat": {2: 4, 3: 5}, "dan": {}}
    assert pairwise_agreement(reviews) == {"ann": None, "bob": 1.0, "cat": 1.0, "dan": None}


def test_median_skips_missing_values() -> None:
    assert median([3, None, 1, 2]) == 2.0
    assert median([3, 4]) == 3.5
    assert median([None]) is None
    assert median([]) is None
