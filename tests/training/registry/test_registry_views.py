"""Registry pages: who sees them, who acts on them, and what a promotion through the page does."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import AuditEvent
from tests.factories import FineTuneJobFactory, MembershipFactory, UserFactory
from tests.helpers import ALL, as_user, assert_admin_actions, assert_page_access
from training.registry.promotion import production_stage, promote_model
from training.registry.stages import RegistrySettings, RetrainRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def staged(dataset, make_model, admin_user):
    production, candidate = make_model("ft:prod"), make_model("ft:cand")
    promote_model(dataset=dataset, model=production, user=admin_user)
    job = FineTuneJobFactory(dataset=dataset, version=production.version)
    run = RetrainRun.objects.create(dataset=dataset, like=job)
    return production, candidate, run


@pytest.mark.parametrize("who", ALL)
def test_registry_pages_are_for_members(
    request, who, dataset, staged, client_for, admin_user, reviewer, outsider
):
    _production, candidate, run = staged
    slug = dataset.slug
    member = ("admin", "reviewer")
    assert_page_access(
        client_for(as_user(request, who)),
        who,
        {
            "home": (reverse("registry_home", args=[slug]), member),
            "model": (reverse("registry_model", args=[slug, candidate.pk]), member),
            "drift": (reverse("registry_drift", args=[slug]), member),
            "retrain": (reverse("retrain_detail", args=[slug, run.pk]), member),
        },
    )


@pytest.mark.parametrize("who", ALL)
def test_registry_actions_are_for_dataset_admins(
    request, who, dataset, staged, client_for, admin_user, reviewer, outsider
):
    production, candidate, run = staged
    slug = dataset.slug
    assert_admin_actions(
        client_for(as_user(request, who)),
        who,
        {
            "canary": (reverse("registry_canary", args=[slug, candidate.pk]), {"fraction": "0.05"}),
            "canary_stop": (reverse("registry_canary_stop", args=[slug]), {}),
            "settings": (
                reverse("registry_settings", args=[slug]),
                {"canary_min_feedback": "30", "drift_window_days": "30"},
            ),
            "promote": (reverse("registry_promote", args=[slug, candidate.pk]), {}),
            "rollback": (reverse("registry_rollback", args=[slug]), {}),
            "retrain": (reverse("retrain_start", args=[slug]), {}),
            "retry": (reverse("retrain_retry", args=[slug, run.pk]), {}),
        },
    )
    if who != "admin":
        assert production_stage(dataset).model == production


def test_the_page_refuses_a_promotion_with_the_numbers_and_staff_can_override(
    dataset, staged, make_comparison, client_for, admin_user
):
    production, candidate, _ = staged
    make_comparison(production, candidate, winners=["a"] * 20 + ["b"] * 20)
    url = reverse("registry_promote", args=[dataset.slug, candidate.pk])
    response = client_for(admin_user).post(url, {}, follow=True)
    assert b"Not promoted: the gate refused" in response.content
    assert b"20 wins, 20 losses, 0 ties" in response.content
    assert b"better than production" in response.content
    assert production_stage(dataset).model == production
    staff = UserFactory(username="staff", is_staff=True)
    MembershipFactory(dataset=dataset, user=staff, role="admin")
    client_for(staff).post(url, {"force": "on", "reason": "incident 42"})
    assert production_stage(dataset).model == candidate
    assert (
        AuditEvent.objects.get(action="model.promote", actor=staff).details["reason"]
        == "incident 42"
    )


def test_the_model_page_shows_lineage_and_the_home_page_the_timeline(
    dataset, staged, client_for, reviewer
):
    production, _candidate, _ = staged
    page = client_for(reviewer).get(reverse("registry_model", args=[dataset.slug, production.pk]))
    assert f"v{production.version.number}".encode() in page.content
    assert b"Fine-tune job" not in page.content  # a model registered without a job
    home = client_for(reviewer).get(reverse("registry_home", args=[dataset.slug]))
    assert b"Promoted to production" in home.content and b"ft:prod" in home.content
    assert b"Roll back" not in home.content  # reviewers see, never act


def test_the_admin_forms_show_their_fields(dataset, staged, client_for, admin_user):
    _production, candidate, _ = staged
    home = client_for(admin_user).get(reverse("registry_home", args=[dataset.slug]))
    assert b'name="like"' in home.content and b'name="canary_max_excess"' in home.content
    page = client_for(admin_user).get(reverse("registry_model", args=[dataset.slug, candidate.pk]))
    assert b'name="comparison"' in page.content and b'name="fraction"' in page.content


def test_settings_are_saved_and_audited(dataset, client_for, admin_user):
    client_for(admin_user).post(
        reverse("registry_settings", args=[dataset.slug]),
        {
            "canary_max_excess": "0.05",
            "canary_min_feedback": "50",
            "canary_false_rollback_rate": "0.05",
            "novelty_threshold": "0.4",
            "drift_window_days": "14",
            "drift_min_sample": "50",
            "gate_evidence": "people",
            "gate_level": "0.05",
            "gate_min_examples": "40",
        },
    )
    saved = RegistrySettings.objects.get(dataset=dataset)
    assert saved.gate == {"evidence": "people", "level": 0.05, "min_examples": 40}
    assert saved.canary_max_excess == 0.05 and saved.novelty_threshold == 0.4
    assert AuditEvent.objects.filter(action="registry.settings", actor=admin_user).exists()


def test_a_failed_retraining_is_retried_from_its_step(dataset, staged, client_for, admin_user):
    _, _, run = staged
    RetrainRun.objects.filter(pk=run.pk).update(status="failed", step="finetune", error="boom")
    client_for(admin_user).post(reverse("retrain_retry", args=[dataset.slug, run.pk]))
    run.refresh_from_db()
    assert (run.status, run.step, run.error) == ("queued", "finetune", "")
    assert AuditEvent.objects.filter(action="model.retrain_retry", actor=admin_user).exists()
