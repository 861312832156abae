"""Per-example metrics, run aggregates and the intervals comparisons report."""

from __future__ import annotations

import json

import pytest

from training.evaluation.metrics import (
    GATE_METRICS,
    bootstrap_ci,
    evidence_error,
    example_metrics,
    percentile,
    run_metrics,
    wilson_interval,
    win_rate,
)


def reply(text: str | None = None, calls: list[tuple[str, dict]] | None = None) -> dict:
    message: dict = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(calls)
        ]
    return message


def test_exact_match_ignores_case_spacing_and_edge_punctuation() -> None:
    metrics = example_metrics(
        reply("Invoice 3 totals 30 euros."), reply("  invoice 3   TOTALS 30 euros")
    )
    assert metrics["exact_match"] == 1.0 and metrics["rouge_l"] == pytest.approx(1.0)
    assert example_metrics(reply("Yes."), reply("No."))["exact_match"] == 0.0


def test_rouge_l_and_length_ratio_measure_partial_overlap() -> None:
    metrics = example_metrics(reply("the cat sat on the mat"), reply("the cat sat"))
    assert 0 < metrics["rouge_l"] < 1
    assert metrics["length_ratio"] == pytest.approx(
        len("the cat sat") / len("the cat sat on the mat")
    )


def test_tool_calls_need_the_same_function_and_json_equal_arguments() -> None:
    reference = reply(calls=[("lookup", {"a": 1, "b": [1, 2]})])
    assert (
        example_metrics(reference, reply(calls=[("lookup", {"b": [1, 2], "a": 1})]))["tool_call"]
        == 1.0
    )
    assert (
        example_metrics(reference, reply(calls=[("lookup", {"a": 2, "b": [1, 2]})]))["tool_call"]
        == 0.0
    )
    assert (
        example_metrics(reference, reply(calls=[("search", {"a": 1, "b": [1, 2]})]))["tool_call"]
        == 0.0
    )
    assert example_metrics(reference, reply("I would look it up"))["tool_call"] == 0.0
    assert example_metrics(reply("plain"), reply("plain"))["tool_call"] is None


def test_json_validity_is_scored_only_where_the_reference_is_json() -> None:
    reference = reply('{"status": "ok"}')
    assert example_metrics(reference, reply('{"status": "bad"}'))["json_valid"] == 1.0
    assert example_metrics(reference, reply('{"status": '))["json_valid"] == 0.0
    assert example_metrics(reply("not json"), reply("{}"))["json_valid"] is None


def test_run_metrics_say_how_many_were_scored() -> None:
    rows = [
        {
            "status": "ok",
            "metrics": {"exact_match": 1.0, "rouge_l": 1.0},
            "latency_ms": 100.0,
            "cost_usd": 0.001,
            "judge_mean": 5.0,
            "judge_scores": {"tone": 5},
        },
        {
            "status": "ok",
            "metrics": {"exact_match": 0.0, "rouge_l": 0.5},
            "latency_ms": 300.0,
            "cost_usd": 0.002,
            "judge_mean": 3.0,
            "judge_scores": {"tone": 3},
        },
        {
            "status": "failed",
            "metrics": {},
            "latency_ms": None,
            "cost_usd": None,
            "judge_mean": None,
            "judge_scores": None,
        },
    ]
    metrics = run_metrics(rows, examples=3)
    assert (metrics["scored"], metrics["failed"], metrics["examples"]) == (2, 1, 3)
    assert metrics["exact_match"] == 0.5 and metrics["rouge_l"] == 0.75
    assert metrics["latency_p50_ms"] == 200.0 and metrics["cost_usd"] == pytest.approx(0.003)
    assert metrics["judge_mean"] == 4.0 and metrics["judge_criteria"] == {"tone": 4.0}
    assert metrics["tool_call_accuracy"] is None
    # The run page shows each mean with how many examples it is over, and the p95 latency.
    assert (metrics["exact_match_n"], metrics["rouge_l_n"], metrics["tool_call_n"]) == (2, 2, 0)
    assert metrics["latency_p95_ms"] == pytest.approx(290.0) and metrics["judged"] == 2


def test_a_run_without_known_costs_has_no_cost_rather_than_zero() -> None:
    row = {"status": "ok", "metrics": {}, "latency_ms": 5.0, "cost_usd": None}

    assert run_metrics([row, row], examples=2)["cost_usd"] is None


def test_percentiles_interpolate_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10.0] * 5 + [100.0], 95) == pytest.approx(77.5)
    assert percentile([], 50) is None


def test_wilson_interval_matches_the_textbook_value() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 0) is None


def test_win_rate_counts_ties_as_half_and_its_interval_contains_it() -> None:
    rate, (low, high) = win_rate(a_wins=2, b_wins=6, ties=2)
    assert rate == 0.7 and low < rate < high


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible() -> None:
    values = [0.1 * i for i in range(30)]
    first = bootstrap_ci(values, resamples=500)
    assert first == bootstrap_ci(values, resamples=500)
    assert first[0] < sum(values) / len(values) < first[1]
    assert bootstrap_ci([1.0]) is None


def test_bootstrap_interval_of_two_values_exists_and_of_equal_values_is_that_value() -> None:
    low, high = bootstrap_ci([0.0, 1.0], resamples=200)
    assert 0.0 <= low <= high <= 1.0
    # scipy refuses a sample whose values are all equal; the interval is then the value.
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)


def test_a_tool_turn_matches_exactly_when_its_calls_do_whatever_text_is_beside_them() -> None:
    reference = reply("Let me look that up.", calls=[("lookup", {"order": 7})])
    output = reply("One moment.", calls=[("lookup", {"order": 7})])

    metrics = example_metrics(reference, output)

    assert metrics["exact_match"] == 1.0 and metrics["tool_call"] == 1.0


def test_a_reference_without_text_has_no_text_scores() -> None:
    reference = reply(None, calls=[("lookup", {"order": 7})])

    metrics = example_metrics(reference, reply("Order 7 is on its way."))

    assert (metrics["rouge_l"], metrics["chrf"], metrics["length_ratio"]) == (None, None, None)


def test_one_decided_comparison_has_a_wilson_interval() -> None:
    low, high = wilson_interval(1, 1)
    assert low == pytest.approx(0.2065, abs=1e-3) and high == pytest.approx(1.0)


def test_gate_evidence_that_is_a_descriptive_figure_is_refused_saying_so() -> None:
    assert evidence_error("judge") is None and evidence_error("metric:chrf") is None
    assert evidence_error("metric:latency_ms") == (
        "latency_ms is a descriptive figure (shown, never a gate metric); use judge, people or "
        f"metric: one of {', '.join(GATE_METRICS)}"
    )
    assert evidence_error("metric:bleu") == (
        f"evidence must be judge, people or metric:NAME with NAME one of {', '.join(GATE_METRICS)}"
    )
