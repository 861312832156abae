"""How far the judge can be trusted: its scores against people's on reviewed examples."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import ConversationFactory, ReviewFactory, UserFactory
from training.evaluation.models import EvalExample, EvalRun
from training.evaluation.selectors import judge_human_agreement
from training.registry.models import Model

pytestmark = pytest.mark.django_db


def test_agreement_is_computed_per_criterion_on_reviewed_examples(
    dataset: Any, eval_version: Any
) -> None:
    model = Model.objects.create(kind="base", provider="simulator", name="m")
    run = EvalRun.objects.create(dataset=dataset, version=eval_version, model=model, judge=model)
    keys = [c["key"] for c in dataset.criteria]
    people = UserFactory(username="p1")
    # The judge agrees with the person on every criterion but the last, where it inverts.
    for position, human in enumerate([1, 2, 4, 5]):
        conversation = ConversationFactory(dataset=dataset)
        scores = {key: human for key in keys}
        ReviewFactory(conversation=conversation, dataset=dataset, reviewer=people, scores=scores)
        judged = {key: human for key in keys[:-1]} | {keys[-1]: 6 - human}
        EvalExample.objects.create(
            run=run,
            position=position,
            key=f"k{position}",
            conversation_id=conversation.pk,
            status="ok",
            judge_scores=judged,
            judge_mean=3.0,
        )
    EvalExample.objects.create(
        run=run,
        position=9,
        key="unreviewed",
        status="ok",
        judge_scores={keys[0]: 3},
        judge_mean=3.0,
    )
    rows = {row["key"]: row for row in judge_human_agreement(run)}
    assert rows[keys[0]]["examples"] == 4 and rows[keys[0]]["alpha"] == pytest.approx(1.0)
    assert rows[keys[-1]]["alpha"] < 0
