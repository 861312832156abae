"""Blind side-by-side review in a browser: keys 1-4 and S decide, names stay hidden."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.training.evaluation.conftest import make_version, text_example
from training.evaluation.models import EvalExample, EvalRun, HumanVerdict
from training.evaluation.services.comparisons import create_comparison
from training.registry.models import Model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def finished_run(dataset: Any, version: Any, name: str, replies: list[str]) -> EvalRun:
    model = Model.objects.create(kind="base", provider="simulator", name=name)
    run = EvalRun.objects.create(
        dataset=dataset, version=version, model=model, status="succeeded", examples=len(replies)
    )
    for position, reply in enumerate(replies):
        example = text_example(position)
        EvalExample.objects.create(
            run=run,
            position=position,
            key=f"key-{position}",
            prompt=example["messages"][:-1],
            reference=example["messages"][-1],
            output={"role": "assistant", "content": reply},
            status="ok",
            metrics={"exact_match": 0.0, "rouge_l": 0.5},
        )
    return run


def test_a_reviewer_judges_pairs_with_the_keyboard(
    page: Any, live_server: Any, login: Any, reviewer: Any, admin_user: Any, dataset: Any
) -> None:
    version = make_version(
        dataset, train=[text_example(i) for i in range(3)], validation=[text_example(9)]
    )
    a = finished_run(
        dataset,
        version,
        "model-alpha",
        ["<b>alpha</b> one", "alpha two", "alpha three", "alpha four", "alpha five"],
    )
    b = finished_run(
        dataset,
        version,
        "model-beta",
        ["beta one", "beta two", "beta three", "beta four", "beta five"],
    )
    comparison = create_comparison(run_a=a, run_b=b)
    login(page, reviewer)
    page.goto(f"{live_server.url}/d/{dataset.slug}/evaluation/comparisons/{comparison.pk}/blind/")
    page.wait_for_selector("#blind-pair")
    body = page.content()
    assert "model-alpha" not in body and "model-beta" not in body
    # Replies are untrusted text: shown escaped, never as markup.
    assert "<b>alpha</b> one" in page.inner_text("#blind-pair")
    assert page.query_selector("#blind-pair b") is None

    for key in ("1", "2", "3", "s", "4"):
        current = (
            page.get_attribute("#blind-pair", "data-pair")
            if page.query_selector("#blind-pair")
            else None
        )
        if current is None:
            break
        page.keyboard.press(key)
        page.wait_for_function(
            "(pair) => !document.querySelector('#blind-pair') || document.querySelector('#blind-pair').dataset.pair !== pair",
            arg=current,
        )
    page.wait_for_selector("#blind-done")
    verdicts = {v.choice for v in HumanVerdict.objects.filter(reviewer=reviewer)}
    assert verdicts == {"left", "right", "tie", "both_bad"}
    assert HumanVerdict.objects.filter(reviewer=reviewer).count() == 4

    # A pair was skipped, so the comparison is still open for blind review: the reviewer
    # does not see its results; an admin's page counts people's verdicts.
    page.goto(f"{live_server.url}/d/{dataset.slug}/evaluation/comparisons/{comparison.pk}/")
    assert "open for blind review" in page.content()
    assert "model-alpha" not in page.content()
    admin = Client()
    admin.force_login(admin_user)
    html = admin.get(f"/d/{dataset.slug}/evaluation/comparisons/{comparison.pk}/").content
    assert b"B win rate, people" in html and b"model-alpha" in html
