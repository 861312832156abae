"""The gate's one pre-registered test: failed examples are losses, small samples, the
training split and descriptive figures are refused with the reason, every attempt is
audited, and the numbers are scipy's."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from scipy import stats

from curation.models import AuditEvent
from training.registry.promotion import PromotionRefused, production_stage, promote_model
from training.registry.stages import RegistrySettings

pytestmark = pytest.mark.django_db


def gate_cli(*args: str) -> dict:
    out = io.StringIO()
    call_command("gate", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.fixture
def promoted(dataset, make_model, admin_user):
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    return old, new


def test_a_candidate_that_failed_examples_loses_them(
    dataset, promoted, make_comparison, admin_user
):
    old, new = promoted
    # 24 wins of 24 answered, but 16 of 40 examples failed: 24 wins, 16 losses.
    winners = ["b"] * 40
    make_comparison(old, new, winners=winners, failed_b=set(range(24, 40)))
    with pytest.raises(PromotionRefused) as refused:
        promote_model(dataset=dataset, model=new, user=admin_user)
    test = refused.value.details["test"]
    assert (test["wins"], test["losses"]) == (24, 16)
    assert refused.value.details["failures"]["candidate_failed"] == 16
    assert test["p_value"] == pytest.approx(stats.binomtest(24, 40, alternative="greater").pvalue)
    assert production_stage(dataset).model == old


def test_production_failures_are_production_losses(dataset, promoted, make_comparison, admin_user):
    old, new = promoted
    comparison = make_comparison(
        old, new, winners=["b"] * 20 + ["a"] * 20, failed_a=set(range(20, 40))
    )
    event = promote_model(dataset=dataset, model=new, user=admin_user)
    assert event.comparison == comparison
    assert event.details["test"]["wins"] == 40 and event.details["test"]["losses"] == 0


def test_a_comparison_on_two_examples_is_refused_with_the_minimum(
    dataset, promoted, make_comparison, admin_user
):
    old, new = promoted
    make_comparison(old, new, winners=["b", "b"], metric={"rouge_l": ([0.1, 0.2], [0.9, 0.9])})
    with pytest.raises(PromotionRefused, match=r"has 2 examples .* at least 30"):
        promote_model(dataset=dataset, model=new, user=admin_user)


def test_training_split_comparisons_are_refused(dataset, promoted, make_comparison, admin_user):
    old, new = promoted
    make_comparison(old, new, winners=["b"] * 40, split="train")
    with pytest.raises(PromotionRefused, match="training split"):
        promote_model(dataset=dataset, model=new, user=admin_user)


def test_a_length_ratio_gate_is_refused_everywhere(dataset, promoted, make_comparison, admin_user):
    old, new = promoted
    with pytest.raises(CommandError, match="length_ratio is a descriptive figure"):
        gate_cli("--dataset", dataset.slug, "--evidence", "metric:length_ratio")
    # Even a comparison that recorded it (an old row) cannot pass on it.
    ratios = ([1.0] * 40, [3.0] * 40)
    make_comparison(
        old,
        new,
        winners=["a"] * 40,
        metric={"length_ratio": ratios},
        gate={"evidence": "metric:length_ratio"},
    )
    with pytest.raises(PromotionRefused, match="descriptive figure"):
        promote_model(dataset=dataset, model=new, user=admin_user)


def test_the_gate_command_pre_registers_the_test_for_later_comparisons(
    dataset, promoted, make_comparison, admin_user
):
    answer = gate_cli(
        "--dataset",
        dataset.slug,
        "--evidence",
        "metric:exact_match",
        "--level",
        "0.01",
        "--min-examples",
        "50",
    )
    assert answer == {
        "dataset": dataset.slug,
        "gate": {"evidence": "metric:exact_match", "level": 0.01, "min_examples": 50},
    }
    assert RegistrySettings.for_dataset(dataset).gate == answer["gate"]
    audit = AuditEvent.objects.get(action="registry.gate")
    assert audit.details["after"]["evidence"] == "metric:exact_match"
    with pytest.raises(CommandError, match="at least 10"):
        gate_cli("--dataset", dataset.slug, "--evidence", "judge", "--min-examples", "3")
    with pytest.raises(CommandError, match=r"at most 0\.2"):
        gate_cli("--dataset", dataset.slug, "--evidence", "judge", "--level", "0.5")


def test_a_binary_metric_uses_the_sign_test_over_changed_examples(
    dataset, promoted, make_comparison, admin_user
):
    old, new = promoted
    # 12 examples improved, 3 worsened, 25 unchanged: only the 15 changed ones decide.
    before = [0.0] * 12 + [1.0] * 3 + [1.0] * 25
    after = [1.0] * 12 + [0.0] * 3 + [1.0] * 25
    make_comparison(
        old,
        new,
        metric={"exact_match": (before, after)},
        gate={"evidence": "metric:exact_match"},
    )
    event = promote_model(dataset=dataset, model=new, user=admin_user)
    test = event.details["test"]
    assert test["test"].startswith("sign test") and test["examples"] == 40
    assert test["p_value"] == pytest.approx(stats.binomtest(12, 15, alternative="greater").pvalue)


def test_a_passed_attempt_is_audited_with_its_figures(
    dataset, promoted, make_comparison, admin_user
):
    old, new = promoted
    make_comparison(old, new, winners=["b"] * 30 + ["a"] * 5 + ["tie"] * 5)
    promote_model(dataset=dataset, model=new, user=admin_user)
    attempt = AuditEvent.objects.get(action="model.gate", object_id=str(new.pk))
    assert attempt.details["passed"] is True
    figures = attempt.details["figures"]["test"]
    assert (figures["wins"], figures["losses"], figures["ties"]) == (30, 5, 5)
    assert figures["lower_bound"] == pytest.approx(
        stats.binomtest(30, 35, alternative="greater").proportion_ci(0.95, "exact").low
    )


def test_the_api_refuses_a_metric_of_its_own(dataset, promoted, admin_user, token_for):
    _old, new = promoted
    response = Client().post(
        f"/api/v1/datasets/{dataset.slug}/production-model",
        {"model": new.ref, "metric": "length_ratio"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user, 'admin')}",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "metric_not_accepted"


def test_the_registry_page_sets_the_gate_and_refuses_descriptive_figures(
    dataset, admin_user, reviewer, client_for
):
    url = reverse("registry_settings", args=[dataset.slug])
    fields = {
        "canary_min_feedback": "30",
        "canary_false_rollback_rate": "0.05",
        "drift_window_days": "30",
        "drift_min_sample": "50",
        "gate_level": "0.05",
    }
    refused = client_for(admin_user).post(
        url,
        {**fields, "gate_evidence": "metric:length_ratio", "gate_min_examples": "30"},
        follow=True,
    )
    assert b"Settings not saved" in refused.content
    assert not RegistrySettings.objects.filter(dataset=dataset).exists()
    client_for(admin_user).post(
        url, {**fields, "gate_evidence": "metric:rouge_l", "gate_min_examples": "60"}
    )
    assert RegistrySettings.for_dataset(dataset).gate["evidence"] == "metric:rouge_l"
    home = client_for(admin_user).get(reverse("registry_home", args=[dataset.slug]))
    assert b"metric:rouge_l" in home.content
    assert client_for(reviewer).post(url, {**fields, "gate_evidence": "judge"}).status_code == 403
