"""Automatic metrics per example and per run, and the statistics comparisons report.

Per example: exact match after normalisation, ROUGE-L F1 (Google's ``rouge-score`` with a
Unicode-aware tokenizer: its default keeps only a-z and 0-9, so Russian, Chinese, Arabic or
Greek text scored 0), chrF (``sacrebleu``), length ratio, tool-call accuracy (same function
names and arguments equal as JSON values, ``true`` is not ``1``) where the reference calls
tools, strict JSON validity (no ``NaN``/``Infinity``) where the reference is JSON. Per run: their means over
the scored examples, latency p50/p95 and cost. Intervals: a percentile bootstrap over
examples for means and differences, Wilson's score interval for win rates.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from training.evaluation.messages import text_of

if TYPE_CHECKING:
    from rouge_score import rouge_scorer

_SPACE = re.compile(r"\s+")
_PUNCT_EDGE = re.compile(r"^[\W_]+|[\W_]+$")

# Per-example metrics that are means over a run (None where an example has no value).
MEAN_METRICS = ("exact_match", "rouge_l", "chrf", "length_ratio", "tool_call", "json_valid")
# Quality metrics (higher is better, 0 is the worst an answer can get) a gate may test on;
# length ratio and latency describe a reply, they never decide a promotion.
GATE_METRICS = ("exact_match", "rouge_l", "chrf", "tool_call", "json_valid", "judge_mean")
DESCRIPTIVE_METRICS = ("length_ratio", "latency_ms")
GATE_EVIDENCE = ("judge", "people", *(f"metric:{name}" for name in GATE_METRICS))


def evidence_error(evidence: str) -> str | None:
    """Why ``evidence`` cannot be a gate's evidence (None when it can)."""
    if evidence in GATE_EVIDENCE:
        return None
    name = evidence.removeprefix("metric:")
    if name in DESCRIPTIVE_METRICS:
        return (
            f"{name} is a descriptive figure (shown, never a gate metric); use judge, people or "
            f"metric: one of {', '.join(GATE_METRICS)}"
        )
    return (
        f"evidence must be judge, people or metric:NAME with NAME one of {', '.join(GATE_METRICS)}"
    )


METRIC_LABELS = {
    "exact_match": "Exact match",
    "rouge_l": "ROUGE-L",
    "chrf": "chrF",
    "length_ratio": "Length ratio",
    "tool_call": "Tool-call accuracy",
    "json_valid": "JSON validity",
    "judge_mean": "Judge score (1-5)",
    "latency_ms": "Latency (ms)",
}


def normalize(text: str) -> str:
    """Case, Unicode form, whitespace and edge punctuation do not count as differences;
    a reply that is nothing but punctuation keeps it ("!!!" is not "???")."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return _PUNCT_EDGE.sub("", text) or text


# Han ideographs and kana are words of their own (no spaces between them); elsewhere a token
# is a run of letters or digits in any script.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+")


class UnicodeTokenizer:
    """rouge-score's tokenizer interface: lowercased words of every script. On ASCII text
    it gives the default tokenizer's tokens (runs of a-z and 0-9)."""

    def tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: ``true`` is not ``1`` (Python says it is), ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _strict_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw, parse_constant=_strict_constant)
        except ValueError:
            return raw
    return raw


def _calls(message: dict[str, Any] | None) -> list[tuple[str | None, Any]]:
    calls = []
    for call in (message or {}).get("tool_calls") or []:
        function = call.get("function") or {}
        calls.append((function.get("name"), _arguments(function.get("arguments"))))
    return calls


@cache
def _scorer() -> rouge_scorer.RougeScorer:
    # rouge_score pulls in nltk and scipy (seconds): imported when a run first scores ROUGE.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=UnicodeTokenizer())


@cache
def _chrf() -> Any:
    from sacrebleu.metrics import CHRF

    return CHRF()


def chrf(reference: str, output: str) -> float:
    """chrF (character n-gram F-score, Popović 2015) as sacrebleu computes it, 0 to 1."""
    return float(_chrf().sentence_score(output, [reference]).score) / 100


def _is_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return False
    try:
        json.loads(stripped, parse_constant=_strict_constant)
    except ValueError:
        return False
    return True


def example_metrics(reference: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    ref_text, out_text = text_of(reference), text_of(output)
    ref_calls, out_calls = _calls(reference), _calls(output)
    calls_match = len(ref_calls) == len(out_calls) and all(
        name == other_name and _same_json(args, other_args)
        for (name, args), (other_name, other_args) in zip(ref_calls, out_calls, strict=True)
    )
    metrics: dict[str, Any] = {
        # A tool turn matches exactly when its calls do; a text turn when its text does.
        "exact_match": float(calls_match)
        if ref_calls
        else float(calls_match and normalize(ref_text) == normalize(out_text)),
        "rouge_l": _scorer().score(ref_text, out_text)["rougeL"].fmeasure if ref_text else None,
        "chrf": chrf(ref_text, out_text) if ref_text else None,
        "length_ratio": (len(out_text) / len(ref_text)) if ref_text else None,
        "tool_call": float(calls_match) if ref_calls else None,
        "json_valid": float(_is_json(out_text)) if _is_json(ref_text) else None,
    }
    return metrics


def percentile(values: Sequence[float], q: float) -> float | None:
    """numpy's percentile (linear interpolation), q in 0..100; None without values."""
    if not values:
        return None
    import numpy as np

    return float(np.percentile(values, q))


def mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def run_metrics(rows: Sequence[Mapping[str, Any]], *, examples: int) -> dict[str, Any]:
    """Aggregate per-example rows ({"status", "metrics", "latency_ms", "cost_usd",
    "judge_mean", "judge_scores"}) into the run's metrics."""
    scored = [row for row in rows if row["status"] == "ok"]
    result: dict[str, Any] = {
        "examples": examples,
        "scored": len(scored),
        "failed": sum(1 for row in rows if row["status"] != "ok"),
    }
    for name in MEAN_METRICS:
        values = [row["metrics"].get(name) for row in scored]
        result[name if name != "tool_call" else "tool_call_accuracy"] = mean(values)
        result[f"{name}_n"] = sum(1 for v in values if v is not None)
    latencies = [row["latency_ms"] for row in scored if row["latency_ms"] is not None]
    result["latency_p50_ms"] = percentile(latencies, 50)
    result["latency_p95_ms"] = percentile(latencies, 95)
    costs = [row["cost_usd"] for row in rows if row["cost_usd"] is not None]
    result["cost_usd"] = round(sum(costs), 6) if costs else None
    judged = [row for row in scored if row.get("judge_mean") is not None]
    result["judge_mean"] = mean([row["judge_mean"] for row in judged])
    result["judged"] = len(judged)
    criteria: dict[str, list[float]] = {}
    for row in judged:
        for key, value in (row.get("judge_scores") or {}).items():
            if isinstance(value, int | float):
                criteria.setdefault(key, []).append(float(value))
    result["judge_criteria"] = {key: sum(v) / len(v) for key, v in criteria.items()}
    return result


def bootstrap_ci(
    values: Sequence[float],
    *,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of the values, by ``scipy.stats.bootstrap``
    (shown beside metric deltas; the gate uses paired tests)."""
    if len(values) < 2:
        return None
    import numpy as np
    from scipy import stats

    data = np.asarray(values, dtype=float)
    if np.all(data == data[0]):
        return (float(data[0]), float(data[0]))  # scipy refuses a degenerate sample
    result = stats.bootstrap(
        (data,),
        lambda sample, axis: np.mean(sample, axis=axis),
        n_resamples=resamples,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def wilson_interval(
    successes: float, total: int, *, z: float = 1.959964
) -> tuple[float, float] | None:
    """Wilson's score interval for a proportion (ties counted as half a win by callers)."""
    if total <= 0:
        return None
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - margin), min(1.0, centre + margin))


def win_rate(
    a_wins: int, b_wins: int, ties: int
) -> tuple[float | None, tuple[float, float] | None]:
    """B's win rate over decided-or-tied pairs (a tie is half a win) and its Wilson interval."""
    total = a_wins + b_wins + ties
    if not total:
        return None, None
    successes = b_wins + ties / 2
    return successes / total, wilson_interval(successes, total)
