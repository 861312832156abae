"""Metrics that hold in every script and keep JSON's types: ROUGE-L with a Unicode-aware
tokenizer (equal to rouge-score's own on ASCII text), chrF from sacrebleu, tool calls where
``true`` is not ``1``, strict JSON (no NaN/Infinity), and exact match that tells "!!!" from
"???"."""

from __future__ import annotations

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from training.evaluation.metrics import example_metrics


def reply(text: str) -> dict:
    return {"role": "assistant", "content": text}


def call(arguments: str) -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
        ],
    }


@pytest.mark.parametrize(
    "text",
    [
        "Счёт оплачен вчера вечером.",
        "您的发票已于昨天支付。",
        "تم دفع الفاتورة أمس.",
        "Το τιμολόγιο πληρώθηκε χθες.",  # noqa: RUF001  (Greek on purpose)
    ],
)
def test_identical_text_in_any_script_scores_one(text: str) -> None:
    assert example_metrics(reply(text), reply(text))["rouge_l"] == pytest.approx(1.0)


def test_different_text_in_another_script_scores_below_one() -> None:
    score = example_metrics(reply("Счёт оплачен вчера."), reply("Счёт не оплачен."))["rouge_l"]
    assert 0 < score < 1


@pytest.mark.parametrize(
    ("reference", "output"),
    [
        ("The invoice was paid yesterday.", "Yesterday the invoice was paid!"),
        ("Order 1234 ships on Monday", "order 1234 will ship monday"),
        ("Reset your password from the login page.", "Use the login page to reset it."),
    ],
)
def test_on_ascii_text_rouge_l_is_rouge_scores_own(reference: str, output: str) -> None:
    default = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    expected = default.score(reference, output)["rougeL"].fmeasure
    assert example_metrics(reply(reference), reply(output))["rouge_l"] == pytest.approx(expected)


def test_chrf_is_sacrebleus() -> None:
    reference, output = "The invoice was paid yesterday.", "The invoice got paid yesterday."
    expected = sacrebleu.sentence_chrf(output, [reference]).score / 100
    assert example_metrics(reply(reference), reply(output))["chrf"] == pytest.approx(expected)


def test_tool_call_arguments_keep_json_types() -> None:
    assert example_metrics(call('{"urgent": true}'), call('{"urgent": 1}'))["tool_call"] == 0.0
    assert example_metrics(call('{"n": 1}'), call('{"n": 1.0}'))["tool_call"] == 1.0
    assert example_metrics(call('{"a": [true]}'), call('{"a": [true]}'))["tool_call"] == 1.0


@pytest.mark.parametrize(
    ("reference", "output"),
    [
        ('{"ids": [1, 2]}', '{"ids": [1, 3]}'),
        ('{"ids": [1, 2]}', '{"ids": [1, 2, 3]}'),
        ('{"ids": [1, 2]}', '{"ids": {"0": 1, "1": 2}}'),
        ('{"ids": {"a": 1}}', '{"ids": ["a"]}'),
        ('{"ids": [1]}', '{"ids": "[1]"}'),
        ('{"city": "Paris"}', "city=Paris"),
        ('{"city": "Paris"}', '{"city": "Rome"}'),
        ('{"city": "Paris"}', '{"city": null}'),
    ],
)
def test_tool_call_arguments_of_another_shape_or_element_do_not_match(
    reference: str, output: str
) -> None:
    # A model's arguments may be any JSON or none: a mismatch scores 0, it never fails the run.
    assert example_metrics(call(reference), call(output))["tool_call"] == 0.0


def test_tool_call_arguments_with_equal_strings_and_nulls_match() -> None:
    arguments = '{"city": "Paris", "street": null, "tags": ["a", "b"]}'
    assert example_metrics(call(arguments), call(arguments))["tool_call"] == 1.0


def test_json_validity_is_strict() -> None:
    reference = reply('{"total": 10}')
    assert example_metrics(reference, reply('{"total": NaN}'))["json_valid"] == 0.0
    assert example_metrics(reference, reply('{"total": Infinity}'))["json_valid"] == 0.0
    assert example_metrics(reference, reply('{"total": 12}'))["json_valid"] == 1.0


def test_exact_match_tells_punctuation_only_replies_apart() -> None:
    assert example_metrics(reply("!!!"), reply("???"))["exact_match"] == 0.0
    assert example_metrics(reply("!!!"), reply(" !!! "))["exact_match"] == 1.0
    assert example_metrics(reply("Paid."), reply("paid"))["exact_match"] == 1.0
