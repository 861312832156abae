"""Blind side-by-side verdicts become preference pairs in one action (dataset admins only)."""

from __future__ import annotations

from typing import Any

import pytest

from curation.models import AuditEvent, PairSource, PreferencePair
from tests.factories import UserFactory
from tests.training.evaluation.test_evaluation_views import evaluated  # noqa: F401
from training.evaluation.models import Comparison, EvalExample
from training.evaluation.services import blind

pytestmark = pytest.mark.django_db


def judge_all(comparison: Comparison, reviewer: Any, choices: list[str]) -> None:
    # Each verdict on the pair the queue hands the reviewer (its lease), in position order.
    for choice in choices:
        pair = blind.claim_next_pair(comparison=comparison, reviewer=reviewer)
        assert pair is not None
        blind.submit_verdict(pair=pair, reviewer=reviewer, choice=choice)


def test_agreed_verdicts_become_pairs_once_and_the_rest_are_left_out(
    evaluated: dict[str, Any],  # noqa: F811
    dataset: Any,
    admin_user: Any,
    reviewer: Any,
    client_for: Any,
) -> None:
    comparison: Comparison = evaluated["comparison"]
    comparison.reviews_needed = 2  # two people judge each pair
    comparison.save(update_fields=["reviews_needed"])
    second = UserFactory()
    dataset.memberships.create(user=second, role="reviewer")
    judge_all(comparison, reviewer, ["left", "right", "tie", "both_bad", "left"])
    judge_all(comparison, second, ["left", "right", "tie", "both_bad", "right"])
    url = f"/d/{dataset.slug}/evaluation/comparisons/{comparison.pk}/pairs/"
    assert client_for(reviewer).post(url).status_code == 403
    assert client_for(admin_user).get(url).status_code == 405
    response = client_for(admin_user).post(url)
    assert response.status_code == 302
    pairs = list(PreferencePair.objects.filter(source=PairSource.EVALUATION))
    assert len(pairs) == 2
    first = comparison.pairs.order_by("position").first()
    winner = "a" if first.left_is_a else "b"
    run = comparison.run_a_id if winner == "a" else comparison.run_b_id
    other = comparison.run_b_id if winner == "a" else comparison.run_a_id
    chosen = EvalExample.objects.get(run_id=run, key=first.key).output
    rejected = EvalExample.objects.get(run_id=other, key=first.key).output
    made = next(p for p in pairs if p.conversation.metadata["example"] == first.key)
    assert made.conversation.original[-1]["content"] == chosen["content"]
    assert made.alternative[0]["content"] == rejected["content"]
    assert (
        made.conversation.original[: made.reply_start]
        == EvalExample.objects.get(run_id=run, key=first.key).prompt
    )
    event = AuditEvent.objects.get(action="pair.from_verdicts")
    assert (event.details["created"], event.details["skipped"]) == (2, 3)
    client_for(admin_user).post(url)
    assert PreferencePair.objects.filter(source=PairSource.EVALUATION).count() == 2
