"""Promotion through the gate, staff overrides, rollback, and their audit and timeline."""

from __future__ import annotations

import pytest

from curation.models import AuditEvent
from tests.factories import UserFactory
from training.evaluation.services.comparisons import comparison_summary
from training.registry.promotion import (
    PromotionRefused,
    production_stage,
    promote_model,
    rollback_production,
)
from training.registry.stages import ModelStage, StageAction, StageEvent

pytestmark = pytest.mark.django_db

WINS = ["b"] * 36 + ["a"] * 4  # the candidate (B) clearly better
CLOSE = ["b"] * 15 + ["a"] * 12 + ["tie"] * 8  # not enough to say


def test_the_first_promotion_needs_no_comparison(dataset, make_model, admin_user):
    first = make_model("ft:first")
    event = promote_model(dataset=dataset, model=first, user=admin_user)
    assert production_stage(dataset).model == first
    assert event.previous is None and event.details == {"first_promotion": True}
    assert AuditEvent.objects.filter(action="model.promote", actor=admin_user).count() == 1


def test_a_candidate_that_wins_clearly_is_promoted(
    dataset, make_model, make_comparison, admin_user
):
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    comparison = make_comparison(old, new, winners=WINS)
    event = promote_model(dataset=dataset, model=new, user=admin_user)
    assert production_stage(dataset).model == new
    assert event.comparison == comparison and event.previous == old and not event.forced
    assert event.details["judge"]["ci95"][0] > 0.5
    judge = event.details["judge"]
    assert (judge["candidate_wins"], judge["production_wins"], judge["pairs"]) == (36, 4, 40)
    assert ModelStage.objects.get(dataset=dataset, model=old).stage == "archived"


def test_the_gate_reads_the_comparison_from_the_candidates_side(
    dataset, make_model, make_comparison, admin_user
):
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    # The candidate is run A here: A's wins are its wins.
    make_comparison(new, old, winners=["a"] * 36 + ["b"] * 4)
    promote_model(dataset=dataset, model=new, user=admin_user)
    assert production_stage(dataset).model == new


def test_a_candidate_that_loses_as_run_a_is_refused_with_the_numbers_from_its_side(
    dataset, make_model, make_comparison, admin_user
):
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    # The candidate is run A and production (B) wins 36 of 40.
    comparison = make_comparison(new, old, winners=WINS)
    b_side = comparison_summary(comparison)["judge"]
    with pytest.raises(PromotionRefused) as refused:
        promote_model(dataset=dataset, model=new, user=admin_user)
    judge = refused.value.details["judge"]
    assert (judge["candidate_wins"], judge["production_wins"], judge["pairs"]) == (4, 36, 40)
    assert judge["win_rate"] == pytest.approx(1 - b_side["b_win_rate"]) == pytest.approx(0.1)
    low, high = b_side["ci95"]
    assert judge["ci95"] == pytest.approx([1 - high, 1 - low])
    assert judge["ci95"][1] < 0.5
    assert production_stage(dataset).model == old


def test_a_refused_promotion_changes_nothing_and_gives_the_numbers(
    dataset, make_model, make_comparison, admin_user
):
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    make_comparison(old, new, winners=CLOSE)
    stages = list(ModelStage.objects.values_list("model_id", "stage", "since"))
    events = StageEvent.objects.count()
    with pytest.raises(PromotionRefused) as refused:
        promote_model(dataset=dataset, model=new, user=admin_user)
    assert "better than production" in refused.value.reason
    assert "15 wins, 12 losses, 8 ties" in refused.value.reason
    assert refused.value.details["test"]["examples"] == len(CLOSE)
    assert list(ModelStage.objects.values_list("model_id", "stage", "since")) == stages
    assert StageEvent.objects.count() == events
    assert not AuditEvent.objects.filter(action="model.promote", object_id=str(new.pk)).exists()
    attempt = AuditEvent.objects.get(action="model.gate", object_id=str(new.pk))
    assert attempt.details["passed"] is False
    assert attempt.details["figures"]["test"]["wins"] == 15


def test_without_a_comparison_a_second_promotion_is_refused(dataset, make_model, admin_user):
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    with pytest.raises(PromotionRefused, match="no finished comparison"):
        promote_model(dataset=dataset, model=new, user=admin_user)
    assert production_stage(dataset).model == old


def test_a_metric_pre_registered_as_the_evidence_decides_alone(
    dataset, make_model, make_comparison, admin_user
):
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    rouge = ([0.2 + i / 100 for i in range(35)], [0.6 + i / 100 for i in range(35)])
    judged = make_comparison(old, new, winners=CLOSE, metric={"rouge_l": rouge})
    with pytest.raises(PromotionRefused):  # registered for the judge: ROUGE-L does not count
        promote_model(dataset=dataset, model=new, user=admin_user, comparison=judged)
    by_rouge = make_comparison(
        old, new, winners=CLOSE, metric={"rouge_l": rouge}, gate={"evidence": "metric:rouge_l"}
    )
    event = promote_model(dataset=dataset, model=new, user=admin_user, comparison=by_rouge)
    assert event.details["evidence"] == "metric:rouge_l"
    assert event.details["test"]["test"].startswith("Wilcoxon")
    assert event.details["test"]["p_value"] < 0.05


@pytest.mark.parametrize(
    "candidate",
    [
        # Noise around production's scores: no difference a paired test can see.
        [0.5 + ((i * 3) % 5 - 2) / 100 for i in range(40)],
        # The same scores: a difference of exactly zero is not an improvement.
        [0.5 + ((i * 7) % 5 - 2) / 100 for i in range(40)],
    ],
    ids=["noise", "equal"],
)
def test_a_metric_gate_refuses_a_candidate_that_is_not_better(
    dataset, make_model, make_comparison, admin_user, candidate
):
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    production = [0.5 + ((i * 7) % 5 - 2) / 100 for i in range(40)]
    make_comparison(
        old,
        new,
        metric={"rouge_l": (production, candidate)},
        gate={"evidence": "metric:rouge_l"},
    )
    with pytest.raises(PromotionRefused) as refused:
        promote_model(dataset=dataset, model=new, user=admin_user)
    test = refused.value.details["test"]
    assert test["examples"] == 40 and not test["better"]
    assert test["p_value"] > 0.05
    assert production_stage(dataset).model == old


def test_a_comparison_of_other_models_is_refused(dataset, make_model, make_comparison, admin_user):
    old, new, stranger = make_model("ft:old"), make_model("ft:new"), make_model("ft:x")
    promote_model(dataset=dataset, model=old, user=admin_user)
    comparison = make_comparison(stranger, new, winners=WINS)
    with pytest.raises(PromotionRefused, match="not between"):
        promote_model(dataset=dataset, model=new, user=admin_user, comparison=comparison)


def test_staff_override_with_a_reason_is_recorded(dataset, make_model, make_comparison, admin_user):
    staff = UserFactory(username="staff", is_staff=True)
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    make_comparison(old, new, winners=CLOSE)
    with pytest.raises(PromotionRefused, match="written reason"):
        promote_model(dataset=dataset, model=new, user=staff, force=True)
    with pytest.raises(PromotionRefused, match="site staff"):
        promote_model(dataset=dataset, model=new, user=admin_user, force=True, reason="urgent")
    event = promote_model(dataset=dataset, model=new, user=staff, force=True, reason="hotfix")
    assert event.forced and event.reason == "hotfix"
    audit = AuditEvent.objects.get(action="model.promote", object_id=str(new.pk))
    assert audit.details["forced"] is True and audit.details["reason"] == "hotfix"


def test_rollback_returns_to_the_previous_model_step_by_step(
    dataset, make_model, make_comparison, admin_user
):
    v1, v2, v3 = make_model("ft:1"), make_model("ft:2"), make_model("ft:3")
    promote_model(dataset=dataset, model=v1, user=admin_user)
    make_comparison(v1, v2, winners=WINS)
    promote_model(dataset=dataset, model=v2, user=admin_user)
    make_comparison(v2, v3, winners=WINS)
    promote_model(dataset=dataset, model=v3, user=admin_user)
    assert rollback_production(dataset=dataset, user=admin_user).model == v2
    assert production_stage(dataset).model == v2
    assert rollback_production(dataset=dataset, user=None).model == v1
    with pytest.raises(PromotionRefused, match="nothing to roll back"):
        rollback_production(dataset=dataset, user=admin_user)
    actions = list(StageEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [StageAction.PROMOTE] * 3 + [StageAction.ROLLBACK] * 2
    assert AuditEvent.objects.filter(action="model.rollback").count() == 2


def test_rollback_without_production_is_refused(dataset, admin_user):
    with pytest.raises(PromotionRefused, match="no production model"):
        rollback_production(dataset=dataset, user=admin_user)
