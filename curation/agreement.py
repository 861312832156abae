"""How far reviewers agree: Krippendorff's alpha and a per-reviewer agreement rate.

Pure functions over plain mappings, so the caller decides which reviews count (one rubric
criterion, the approve/reject decision, a date range) and where the numbers are shown.

Alpha follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability"
(https://repository.upenn.edu/asc_papers/43): values are paired within each unit, the pairs
are tallied in a coincidence matrix, and alpha = 1 - D_o / D_e, observed over expected
disagreement, with the difference function of the level of measurement.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar

Level = Literal["nominal", "ordinal", "interval"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval")

Reviewer = TypeVar("Reviewer", bound=Hashable)
Unit = TypeVar("Unit", bound=Hashable)
Value = Any
Units = Mapping[Unit, Sequence[Value | None]] | Iterable[Sequence[Value | None]]


def coincidences(units: Units[Unit]) -> dict[tuple[Value, Value], float]:
    """The coincidence matrix: o[c, k] sums, over units, the ordered pairs of values (c, k)
    from different coders, each pair weighted 1 / (m_u - 1) where m_u is the number of values
    in the unit. Missing values (None) are dropped; a unit left with fewer than two values is
    unpairable and contributes nothing. Only non-zero cells are present."""
    sequences = units.values() if isinstance(units, Mapping) else units
    matrix: defaultdict[tuple[Value, Value], float] = defaultdict(float)
    for sequence in sequences:
        counts = Counter(value for value in sequence if value is not None)
        pairable = sum(counts.values())
        if pairable < 2:
            continue
        weight = 1.0 / (pairable - 1)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_k - 1) if c == k else n_c * n_k
                if pairs:
                    matrix[(c, k)] += pairs * weight
    return dict(matrix)


def _ordinal_differences(
    values: Sequence[Value], marginals: Mapping[Value, float]
) -> dict[tuple[Value, Value], float]:
    # delta(c, k) = (sum of n_g for g from c to k, minus (n_c + n_k) / 2) squared: the
    # distance between two ranks is the mass of values lying between them, not their
    # numeric gap (Krippendorff 2011, ordinal metric).
    ordered = sorted(values)
    cumulative = [0.0]
    for value in ordered:
        cumulative.append(cumulative[-1] + marginals[value])
    differences: dict[tuple[Value, Value], float] = {}
    for i, c in enumerate(ordered):
        for j in range(i, len(ordered)):
            k = ordered[j]
            between = cumulative[j + 1] - cumulative[i] - (marginals[c] + marginals[k]) / 2
            differences[(c, k)] = differences[(k, c)] = between * between
    return differences


def _difference(level: Level, c: Value, k: Value) -> float:
    if level == "nominal":
        return 0.0 if c == k else 1.0
    gap = float(c) - float(k)
    return gap * gap


def krippendorff_alpha(units: Units[Unit], *, level: Level) -> float | None:
    """Krippendorff's alpha over a reliability data matrix given unit by unit.

    `units` maps each unit to the values its coders gave it, or is an iterable of such
    per-unit sequences; None marks a missing value. Which coder gave which value does not
    matter to alpha, only which values share a unit. `level` picks the difference function:
    "nominal" (equal or not, any hashable values), "ordinal" (ranks, values must sort) or
    "interval" (squared numeric difference).

    Returns 1.0 for perfect agreement, 0.0 for agreement at chance level, negative values
    for systematic disagreement, and None when alpha is undefined: fewer than two pairable
    values (no unit with two or more values), or no variation at all among the pairable
    values (every one the same), where expected disagreement is 0 and alpha is 0/0.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    matrix = coincidences(units)
    marginals: defaultdict[Value, float] = defaultdict(float)
    for (c, _k), count in matrix.items():
        marginals[c] += count
    total = sum(marginals.values())
    if total < 2 or len(marginals) < 2:
        return None
    values = list(marginals)
    if level == "ordinal":
        try:
            ordinal = _ordinal_differences(values, marginals)
        except TypeError:
            raise ValueError("ordinal values must be mutually comparable") from None

        def delta(c: Value, k: Value) -> float:
            return ordinal[(c, k)]
    else:
        if level == "interval":
            try:
                for value in values:
                    float(value)
            except (TypeError, ValueError):
                raise ValueError("interval values must be numbers") from None

        def delta(c: Value, k: Value) -> float:
            return _difference(level, c, k)

    observed = sum(count * delta(c, k) for (c, k), count in matrix.items())
    expected = sum(
        marginals[c] * marginals[k] * delta(c, k) for c in values for k in values if c != k
    )
    if expected == 0:
        return None
    # alpha = 1 - D_o / D_e with D_o = observed / n and D_e = expected / (n (n - 1)).
    return 1.0 - (total - 1) * observed / expected


def units_from_reviews(
    reviewer_scores: Mapping[Reviewer, Mapping[Unit, Value | None]],
) -> dict[Unit, list[Value | None]]:
    """Turn reviewer -> unit -> value into the unit -> values form `krippendorff_alpha`
    takes, one slot per reviewer in a fixed order (None where a reviewer did not score)."""
    reviewers = list(reviewer_scores)
    units: dict[Unit, list[Value | None]] = {}
    for position, reviewer in enumerate(reviewers):
        for unit, value in reviewer_scores[reviewer].items():
            units.setdefault(unit, [None] * len(reviewers))[position] = value
    return units


def pairwise_agreement(
    reviewer_scores: Mapping[Reviewer, Mapping[Unit, Value | None]],
) -> dict[Reviewer, float | None]:
    """Per reviewer, how often the others gave the same value on units they share.

    For each unit a reviewer scored that at least one other reviewer also scored, take the
    share of those other reviewers who gave exactly the same value; the reviewer's agreement
    is the mean of that share over such units, so every shared unit weighs the same however
    many reviewers it had. With two reviewers per unit this is simply the fraction of shared
    units on which the two agreed. None (missing) values are ignored. A reviewer who shares
    no unit with anyone gets None.
    """
    by_unit: defaultdict[Unit, dict[Reviewer, Value]] = defaultdict(dict)
    for reviewer, scores in reviewer_scores.items():
        for unit, value in scores.items():
            if value is not None:
                by_unit[unit][reviewer] = value
    shares: dict[Reviewer, list[float]] = {reviewer: [] for reviewer in reviewer_scores}
    for values in by_unit.values():
        if len(values) < 2:
            continue
        tally = Counter(values.values())
        others = len(values) - 1
        for reviewer, value in values.items():
            shares[reviewer].append((tally[value] - 1) / others)
    return {
        reviewer: (sum(found) / len(found) if found else None) for reviewer, found in shares.items()
    }


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that are present (None skipped); None if there are none.

    With an even count this is the mean of the middle two, so it may fall between two
    rubric points (3 and 4 give 3.5)."""
    present = [value for value in values if value is not None]
    if not present:
        return None
    return float(statistics.median(present))
