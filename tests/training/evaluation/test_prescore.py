"""The judge pre-scores training data; review_bulk acts on the pre-score."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from curation.models import ConversationStatus
from tests.factories import ConversationFactory, chat
from tests.training.evaluation.conftest import BASE
from training.evaluation.models import PreScore
from training.evaluation.services.prescore import create_prescore_run, run_prescore_job

pytestmark = pytest.mark.django_db

GOOD = (
    "To reset your Nimbus password, open Settings, choose Security, click Reset password and "
    "follow the link we email you; the link works for one hour."
)


@pytest.fixture
def conversations(dataset: Any) -> dict[str, Any]:
    good = ConversationFactory(
        dataset=dataset, original=chat(user="How do I reset my Nimbus password?", assistant=GOOD)
    )
    bad = ConversationFactory(
        dataset=dataset, original=chat(user="How do I reset my Nimbus password?", assistant="ok")
    )
    return {"good": good, "bad": bad}


def test_prescoring_scores_each_conversation_and_review_bulk_rejects_the_weak_ones(
    sim: Any, dataset: Any, conversations: dict[str, Any], client_for: Any, reviewer: Any
) -> None:
    run = create_prescore_run(dataset=dataset, judge=f"openai:{BASE}", threshold=3, enqueue=False)
    run = run_prescore_job(run_id=run.pk)
    assert run.status == "succeeded", run.error
    good = PreScore.objects.get(conversation=conversations["good"])
    bad = PreScore.objects.get(conversation=conversations["bad"])
    assert good.mean >= 3 > bad.mean and run.below == 1
    assert set(good.scores) == {c["key"] for c in dataset.criteria}

    page = client_for(reviewer).get(f"/d/{dataset.slug}/evaluation/prescore/?below=3")
    html = page.content.decode()
    assert f"/conversations/{bad.conversation_id}/" in html
    assert f"/conversations/{good.conversation_id}/" not in html

    out = io.StringIO()
    call_command(
        "review_bulk",
        "--dataset",
        dataset.slug,
        "--reject",
        "--where",
        "judge<3",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue().splitlines()[-1])["rejected"] == 1
    conversations["bad"].refresh_from_db()
    conversations["good"].refresh_from_db()
    assert conversations["bad"].status == ConversationStatus.REJECTED
    assert conversations["good"].status == ConversationStatus.IN_REVIEW


def test_review_bulk_refuses_a_where_it_cannot_read(dataset: Any) -> None:
    with pytest.raises(CommandError, match="not a judge condition"):
        call_command("review_bulk", "--dataset", dataset.slug, "--approve", "--where", "judge?3")


def test_the_review_page_shows_the_prescore_as_a_hint(
    dataset: Any, conversations: dict[str, Any], client_for: Any, reviewer: Any
) -> None:
    from training.evaluation.models import PreScoreRun
    from training.registry.models import Model

    judge = Model.objects.create(kind="base", provider="simulator", name=BASE)
    run = PreScoreRun.objects.create(dataset=dataset, judge=judge, status="succeeded")
    PreScore.objects.create(
        conversation=conversations["bad"],
        dataset=dataset,
        run=run,
        scores={"tone": 2},
        mean=2.0,
        judge=judge.ref,
        prompt_version="rubric-judge/1",
        reason="<b>too short</b>",
    )
    url = f"/d/{dataset.slug}/review/{conversations['bad'].pk}/"
    html = client_for(reviewer).get(url).content.decode()
    assert "Judge pre-score (a hint, not a review)" in html
    assert "&lt;b&gt;too short&lt;/b&gt;" in html
    other = client_for(reviewer).get(f"/d/{dataset.slug}/review/{conversations['good'].pk}/")
    assert "Judge pre-score" not in other.content.decode()
