"""The gate's statistical tests, from scipy (pure: numbers in, numbers out).

Every test is one-sided: "the candidate is better than production", at the level the
dataset's gate settings name. Win/loss evidence (a judge's or people's per-example verdicts)
uses the exact sign test over the decided examples — ties tell nothing about which side is
better, so they are shown but not counted — with the exact (Clopper-Pearson) bound of the
candidate's share of decided examples. Paired metric values use the sign test when the
differences are whole steps (0/1 metrics) and the Wilcoxon signed-rank test otherwise.

``sign_test_p`` takes numpy arrays too, so the false-promotion simulation runs the very
function the gate runs, over thousands of comparisons at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

# numpy and scipy load on first use: the views import this module, and `manage.py check`
# and every web start must not pay for them (tests/curation/test_cli_startup.py).


def sign_test_p(wins: Any, losses: Any) -> Any:
    """One-sided exact p-value of ``wins`` or more out of ``wins + losses`` at p = 0.5.

    P(X >= w) for X ~ Binomial(w + l, 1/2); 1.0 where nothing was decided."""
    import numpy as np
    from scipy import stats

    wins_arr = np.asarray(wins)
    decided = wins_arr + np.asarray(losses)
    p = stats.binom.sf(wins_arr - 1, decided, 0.5)
    return np.where(decided > 0, p, 1.0) if np.ndim(p) else (float(p) if decided > 0 else 1.0)


def win_test(*, wins: int, losses: int, ties: int, level: float) -> dict[str, Any]:
    """The gate's test on win/loss/tie counts from the candidate's side."""
    from scipy import stats

    decided = wins + losses
    total = decided + ties
    result: dict[str, Any] = {
        "test": "sign test (exact binomial, one-sided) over decided examples",
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "examples": total,
        "win_rate": (wins + ties / 2) / total if total else None,
        "decided_win_share": wins / decided if decided else None,
        "p_value": float(sign_test_p(wins, losses)),
        "level": level,
        "lower_bound": None,
    }
    if decided:
        interval = stats.binomtest(wins, decided, 0.5, alternative="greater").proportion_ci(
            confidence_level=1 - level, method="exact"
        )
        result["lower_bound"] = float(interval.low)
    result["better"] = result["p_value"] <= level
    return result


def paired_metric_test(differences: Sequence[float], *, level: float) -> dict[str, Any]:
    """Candidate minus production, per example; one-sided "greater than zero"."""
    import numpy as np
    from scipy import stats

    values = np.asarray(differences, dtype=float)
    nonzero = values[values != 0]
    result: dict[str, Any] = {
        "examples": int(values.size),
        "mean_difference": float(values.mean()) if values.size else None,
        "improved": int((values > 0).sum()),
        "worsened": int((values < 0).sum()),
        "level": level,
    }
    if nonzero.size == 0:
        result.update(test="no example differs", p_value=1.0, better=False)
        return result
    if np.all(np.isclose(np.abs(nonzero), np.round(np.abs(nonzero)))):
        result["test"] = "sign test (exact binomial, one-sided)"
        result["p_value"] = float(sign_test_p(int((nonzero > 0).sum()), int((nonzero < 0).sum())))
    else:
        result["test"] = "Wilcoxon signed-rank (one-sided, zero differences dropped)"
        result["p_value"] = float(
            stats.wilcoxon(nonzero, alternative="greater", zero_method="wilcox").pvalue
        )
    result["better"] = result["p_value"] <= level
    return result


def majority(votes: Iterable[str]) -> str:
    """One verdict for an example from several people's: the option most of them chose
    among "a", "b" and "tie" ("both_bad" counts as a tie); no single most-chosen is a tie."""
    counts = Counter("tie" if vote == "both_bad" else vote for vote in votes)
    if not counts:
        return ""
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return "tie"
    return ranked[0][0]


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> dict[str, Any]:
    """Agreement of two raters on the same items: observed rate and Cohen's kappa with its
    large-sample 95 % interval (Fleiss, Cohen & Everitt 1969 standard error)."""
    import numpy as np
    from scipy import stats

    n = len(first)
    if n == 0 or n != len(second):
        return {"items": n, "agreement": None, "kappa": None, "ci95": None}
    categories = sorted(set(first) | set(second))
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    for x, y in zip(first, second, strict=True):
        table[index[x], index[y]] += 1
    p = table / n
    observed = float(np.trace(p))
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    expected = float(rows @ cols)
    if expected >= 1:
        return {"items": n, "agreement": observed, "kappa": None, "ci95": None}
    kappa = (observed - expected) / (1 - expected)
    # Fleiss, Cohen & Everitt (1969): the large-sample variance of kappa.
    diagonal = sum(
        p[i, i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(len(categories))
    )
    off = (1 - kappa) ** 2 * sum(
        p[i, j] * (cols[i] + rows[j]) ** 2
        for i in range(len(categories))
        for j in range(len(categories))
        if i != j
    )
    correction = (kappa - expected * (1 - kappa)) ** 2
    variance = max(0.0, (diagonal + off - correction) / (n * (1 - expected) ** 2))
    margin = float(stats.norm.ppf(0.975)) * variance**0.5
    return {
        "items": n,
        "agreement": observed,
        "kappa": float(kappa),
        "ci95": [float(kappa - margin), float(kappa + margin)],
    }


def wilson_bounds(successes: Any, total: Any, confidence: float = 0.95) -> tuple[Any, Any]:
    """Wilson's score interval, vectorised (numpy arrays in, arrays out)."""
    import numpy as np
    from scipy import stats

    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    n = np.asarray(total, dtype=float)
    p = np.asarray(successes, dtype=float) / np.where(n > 0, n, 1)
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    margin = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return np.maximum(0.0, centre - margin), np.minimum(1.0, centre + margin)


def newcombe_difference(
    x1: Any, n1: Any, x2: Any, n2: Any, confidence: float = 0.95
) -> tuple[Any, Any]:
    """Newcombe's (1998, method 10) interval of p1 - p2 from two Wilson intervals,
    vectorised; equals statsmodels' ``confint_proportions_2indep(method="newcomb")``."""
    import numpy as np

    p1 = np.asarray(x1, dtype=float) / np.asarray(n1, dtype=float)
    p2 = np.asarray(x2, dtype=float) / np.asarray(n2, dtype=float)
    l1, u1 = wilson_bounds(x1, n1, confidence)
    l2, u2 = wilson_bounds(x2, n2, confidence)
    delta = p1 - p2
    low = delta - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = delta + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def canary_look_level(look: int, level: float) -> float:
    """Alpha spent at the ``look``-th check (1, 2, …) of a canary: level/2, level/4, … so
    every look together never spends more than ``level`` (Bonferroni over the looks)."""
    return level / 2**look


def canary_looks_due(rated: int, min_feedback: int) -> int:
    """Looks happen when the smaller side's rated count reaches min_feedback, then twice
    that, four times… (1 at min_feedback, 2 at twice, …; 0 before)."""
    import numpy as np

    if min_feedback <= 0 or rated < min_feedback:
        return 0
    return int(np.floor(np.log2(rated / min_feedback))) + 1
