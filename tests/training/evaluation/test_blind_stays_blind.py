"""Blind review stays blind: while a comparison is open for blind review a reviewer sees no
model name, run id, per-model reply or judge verdict on any page or export; tool-call ids are
normalised; a verdict needs the reviewer's lease and stops at ``reviews_needed``; people
count once per example. Admins and staff see everything."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import UserFactory
from tests.training.evaluation.conftest import BASE
from tests.training.evaluation.test_evaluation_views import evaluated  # noqa: F401
from training.evaluation.models import BlindPair, Comparison, EvalExample, HumanVerdict
from training.evaluation.services import blind
from training.evaluation.services.comparisons import comparison_summary

pytestmark = pytest.mark.django_db


def pages(dataset: Any, evaluated: dict[str, Any]) -> dict[str, str]:  # noqa: F811
    comparison = evaluated["comparison"]
    base = f"/d/{dataset.slug}/evaluation"
    return {
        "home": f"{base}/",
        "run a": f"{base}/runs/{evaluated['a'].pk}/",
        "run b": f"{base}/runs/{evaluated['b'].pk}/",
        "comparison": f"{base}/comparisons/{comparison.pk}/",
        "csv": f"{base}/comparisons/{comparison.pk}/export.csv",
        "json": f"{base}/comparisons/{comparison.pk}/export.json",
        "blind": f"{base}/comparisons/{comparison.pk}/blind/",
    }


def body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_a_reviewer_sees_no_model_name_anywhere_while_the_comparison_is_open(
    evaluated: dict[str, Any],  # noqa: F811
    dataset: Any,
    reviewer: Any,
    client_for: Any,
) -> None:
    client = client_for(reviewer)
    names = [evaluated["a"].model.ref, evaluated["b"].model.ref, BASE, "ft:"]
    for name, url in pages(dataset, evaluated).items():
        response = client.get(url)
        assert response.status_code in (200, 403), (name, response.status_code)
        text = body(response)
        for model_name in names:
            assert model_name not in text, (name, model_name)
        if response.status_code == 403:
            assert "open for blind review" in text
    # The model's own page names the model, but not the open comparison or its runs.
    comparison = evaluated["comparison"]
    model_page = body(client.get(f"/d/{dataset.slug}/registry/models/{evaluated['b'].model_id}/"))
    assert f"/comparisons/{comparison.pk}/" not in model_page.replace("/blind/", "")
    assert f"/runs/{evaluated['b'].pk}/" not in model_page


def test_admins_and_staff_see_everything(
    evaluated: dict[str, Any],  # noqa: F811
    dataset: Any,
    admin_user: Any,
    client_for: Any,
) -> None:
    staff = UserFactory(username="staff", is_staff=True)
    dataset.memberships.create(user=staff, role="reviewer")
    for user in (admin_user, staff):
        client = client_for(user)
        html = body(client.get(pages(dataset, evaluated)["comparison"]))
        assert evaluated["b"].model.ref in html


def test_once_every_pair_has_its_verdicts_reviewers_see_the_results(
    evaluated: dict[str, Any],  # noqa: F811
    dataset: Any,
    reviewer: Any,
    client_for: Any,
) -> None:
    comparison = evaluated["comparison"]
    while (pair := blind.claim_next_pair(comparison=comparison, reviewer=reviewer)) is not None:
        blind.submit_verdict(pair=pair, reviewer=reviewer, choice="tie")
    response = client_for(reviewer).get(pages(dataset, evaluated)["comparison"])
    assert response.status_code == 200 and evaluated["b"].model.ref in body(response)


def test_tool_call_ids_and_provider_fields_are_normalised_in_blind_pairs(
    evaluated: dict[str, Any],  # noqa: F811
    reviewer: Any,
) -> None:
    comparison: Comparison = evaluated["comparison"]
    pair = comparison.pairs.order_by("position").first()
    call = {"name": "lookup_invoice", "arguments": '{"id": 1}'}
    EvalExample.objects.filter(run=comparison.run_a, key=pair.key).update(
        output={
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [{"id": "call_Xy9AbCdEf", "type": "function", "function": call}],
        }
    )
    EvalExample.objects.filter(run=comparison.run_b, key=pair.key).update(
        output={
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "toolu_01ABCDEF", "type": "function", "function": call}],
            "provider_specific_fields": {"x": 1},
        }
    )
    sides = blind.pair_sides(pair)
    assert sides["left"] == sides["right"]
    assert sides["left"]["tool_calls"][0]["id"].startswith("call_")
    text = str(sides)
    assert "Xy9AbCdEf" not in text and "toolu_" not in text and "refusal" not in text


def test_a_verdict_needs_the_reviewers_lease_and_stops_at_reviews_needed(
    evaluated: dict[str, Any],  # noqa: F811
    dataset: Any,
    reviewer: Any,
    client_for: Any,
) -> None:
    comparison: Comparison = evaluated["comparison"]
    other = UserFactory(username="second")
    dataset.memberships.create(user=other, role="reviewer")
    held = blind.claim_next_pair(comparison=comparison, reviewer=reviewer)
    with pytest.raises(blind.VerdictError, match="not yours to judge"):
        blind.submit_verdict(pair=held, reviewer=other, choice="left")
    blind.submit_verdict(pair=held, reviewer=reviewer, choice="left")
    # reviews_needed is 1: the pair is complete, a second verdict is refused even leased.
    BlindPair.objects.filter(pk=held.pk).update(
        leased_to=other, lease_expires_at="2999-01-01T00:00:00Z"
    )
    with pytest.raises(blind.VerdictError, match="already has the 1 verdict"):
        blind.submit_verdict(pair=held, reviewer=other, choice="right")
    assert HumanVerdict.objects.filter(pair=held).count() == 1


def test_a_pair_that_is_not_a_number_is_a_400_not_a_500(
    evaluated: dict[str, Any],  # noqa: F811
    dataset: Any,
    reviewer: Any,
    client_for: Any,
) -> None:
    url = pages(dataset, evaluated)["blind"]
    for value in ("abc", "²", "1" * 40):
        response = client_for(reviewer).post(url, {"pair": value, "choice": "left"})
        assert response.status_code == 400
        assert "pair number" in response.content.decode()


def test_people_count_once_per_example_by_majority(
    evaluated: dict[str, Any],  # noqa: F811
    dataset: Any,
) -> None:
    comparison: Comparison = evaluated["comparison"]
    comparison.reviews_needed = 3
    comparison.save(update_fields=["reviews_needed"])
    people = [UserFactory(username=f"p{i}") for i in range(3)]
    for person in people:
        dataset.memberships.create(user=person, role="reviewer")
    first = comparison.pairs.order_by("position").first()
    a_side = "left" if first.left_is_a else "right"
    b_side = "right" if first.left_is_a else "left"
    for person, side in zip(people, [a_side, a_side, b_side], strict=True):
        pair = blind.claim_next_pair(comparison=comparison, reviewer=person)
        assert pair.pk == first.pk
        blind.submit_verdict(pair=pair, reviewer=person, choice=side)
    human = comparison_summary(comparison)["human"]
    # Three verdicts on one example are one A win, not two A wins and a B win.
    assert (human["a_wins"], human["b_wins"], human["total"]) == (1, 0, 1)
