"""Pairwise review in a browser: the keys 1, 2 and S decide unranked pairs, one after another."""

from __future__ import annotations

from typing import Any

import pytest

from curation.models import PairChoice, PairVerdict, PairwiseVerdict, PreferencePair
from curation.services import pairwise
from tests.factories import ConversationFactory, PreferencePairFactory, chat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_ranks_pairs_with_the_keyboard(
    page: Any, live_server: Any, login: Any, reviewer: Any, dataset: Any
) -> None:
    pairs = [
        PreferencePairFactory(
            conversation=ConversationFactory(
                dataset=dataset, original=chat(user=f"Question {n}", assistant=f"Reply A{n}")
            ),
            alternative=[{"role": "assistant", "content": f"Reply B{n}"}],
            choice=PairChoice.UNRANKED,
        )
        for n in range(3)
    ]
    login(page, reviewer)
    page.goto(f"{live_server.url}/d/{dataset.slug}/pairwise/")
    for key, pair in zip(["1", "2", "s"], pairs, strict=True):
        page.wait_for_selector(f'#pairwise-pair[data-pair="{pair.pk}"]')
        left = page.inner_text("#pairwise-left")
        expected_left = "A" if pairwise.left_is_a(pair, reviewer) else "B"
        assert f"Reply {expected_left}" in left
        page.keyboard.press(key)
        page.wait_for_load_state("load")
    page.wait_for_selector("#pairwise-done")
    verdicts = dict(PairwiseVerdict.objects.values_list("pair_id", "verdict"))
    first, second, third = pairs
    assert verdicts[first.pk] == (PairVerdict.A if pairwise.left_is_a(first, reviewer) else "b")
    assert verdicts[second.pk] == (PairVerdict.B if pairwise.left_is_a(second, reviewer) else "a")
    assert verdicts[third.pk] == PairVerdict.SKIP
    ranked = PreferencePair.objects.filter(choice__in=[PairChoice.A, PairChoice.B]).count()
    assert ranked == 2
