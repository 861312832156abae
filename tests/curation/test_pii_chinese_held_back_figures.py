"""Chinese-script names on held-back text: the figures docs/personal-data.md reports do not get
worse.

Two held-back sets, scored whole conversation by whole conversation as the detection job runs:
real Simplified-Chinese Wikipedia sentences whose person names Universal NER's annotators
labelled (``pii_support/chinese_uner_holdout.jsonl``, CC BY-SA 4.0; no rule was written from
it), and the support sentences written for this project (``pii_support/chinese_holdout.jsonl``).
The floors sit just under the figures measured when the rules last changed; the real set's
names are mostly public and historical figures and foreign names in transliteration, which is
why its recall is far below the support sentences'.
"""

from __future__ import annotations

import pytest

from curation.pii.analyzer import PiiEngine
from curation.pii.engine import PiiConfig, get_engine
from tests.pii_labelled import Score, score_support, support_analyzer


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_engine()


def measure(engine: PiiEngine, corpus: str) -> Score:
    return score_support(support_analyzer(engine, PiiConfig()), "holdout", corpus=corpus)


@pytest.fixture(scope="module")
def real_text(engine: PiiEngine) -> Score:
    return measure(engine, "chinese_uner")


def test_the_real_held_back_set_is_hundreds_of_sentences_and_names(real_text: Score) -> None:
    assert real_text.messages >= 300
    assert real_text.planted["PERSON_ZH"] >= 200


def test_names_in_real_chinese_text_are_found_at_least_as_often_as_measured(
    real_text: Score,
) -> None:
    assert real_text.recall("PERSON_ZH") >= 0.33, real_text.missed


def test_real_chinese_sentences_without_names_lose_at_most_eight_words_per_hundred(
    real_text: Score,
) -> None:
    assert real_text.false_per_100 <= 8.0, real_text.false_examples


def test_names_in_the_written_support_sentences_are_found(engine: PiiEngine) -> None:
    written = measure(engine, "chinese")

    assert written.recall("PERSON_ZH") >= 0.90, written.missed
    assert written.false_per_100 == 0.0, written.false_examples
