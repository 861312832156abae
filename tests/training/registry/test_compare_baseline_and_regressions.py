"""Comparing runs reads from production's (or the older) run, and the regressions list
holds only examples where the candidate did worse, or says there are none."""

from __future__ import annotations

import pytest
from django.urls import reverse

from training.evaluation.services.comparisons import regressions
from training.registry.promotion import promote_model

pytestmark = pytest.mark.django_db


def test_compare_selected_runs_takes_production_as_the_baseline(
    dataset, make_model, make_comparison, admin_user, client_for
):
    old, new = make_model("ft:old"), make_model("ft:new")
    comparison = make_comparison(new, old, winners=["a"] * 3)  # run A is the newer model
    promote_model(dataset=dataset, model=old, user=admin_user)
    url = reverse("eval_runs_compare", args=[dataset.slug])
    picked = f"?runs={comparison.run_a_id}&runs={comparison.run_b_id}"
    response = client_for(admin_user).get(url + picked)
    assert [run.model for run in response.context["runs"]] == [old, new]


def test_without_production_the_older_run_is_the_baseline(
    dataset, make_model, make_comparison, admin_user, client_for
):
    first, second = make_model("ft:first"), make_model("ft:second")
    comparison = make_comparison(first, second, winners=["b"])
    url = reverse("eval_runs_compare", args=[dataset.slug])
    response = client_for(admin_user).get(
        url + f"?runs={comparison.run_b_id}&runs={comparison.run_a_id}"
    )
    assert [run.pk for run in response.context["runs"]] == [
        comparison.run_a_id,
        comparison.run_b_id,
    ]


def test_the_regressions_list_holds_only_regressions_or_says_none(
    dataset, make_model, make_comparison, admin_user, client_for
):
    old, new = make_model("ft:old"), make_model("ft:new")
    better = make_comparison(old, new, winners=["b"] * 4 + ["tie"])
    assert regressions(better) == []
    page = client_for(admin_user).get(better.get_absolute_url()).content.decode()
    assert "No regressions" in page
    mixed = make_comparison(old, new, winners=["b", "a", "b", "b"], failed_b={3})
    rows = regressions(mixed)
    assert [row["key"] for row in rows] == ["k3", "k1"]  # B's failure first, then A's win
    assert rows[0]["b_failed"] == "HTTP 500"
