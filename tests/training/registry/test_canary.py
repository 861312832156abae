"""Canary: ingested conversations carry the model that answered; the canary's negative-feedback
rate against production, with intervals; the admin's threshold rolls it back (audited)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from curation.models import AuditEvent
from training.registry.feedback import canary_report
from training.registry.promotion import canary_stage, promote_model, start_canary
from training.registry.stages import RegistrySettings, StageAction, StageEvent

pytestmark = pytest.mark.django_db


def conversation(n: int, model: str, feedback: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Where is parcel {n} for {model}?"},
            {"role": "assistant", "content": f"Parcel {n} is on its way."},
        ],
        "model": model,
        "feedback": feedback,
    }


def post(dataset, secret: str, items: list[dict]) -> dict:
    response = Client().post(
        f"/api/v1/datasets/{dataset.slug}/conversations",
        data=json.dumps(items),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def canary_setup(dataset, make_model, admin_user):
    production, candidate = make_model("ft:prod"), make_model("ft:canary")
    promote_model(dataset=dataset, model=production, user=admin_user)
    start_canary(dataset=dataset, model=candidate, fraction=0.1, user=admin_user)
    return production, candidate


def test_the_report_compares_negative_feedback_rates_with_intervals(
    dataset, canary_setup, admin_user, token_for
):
    secret = token_for(admin_user, "ingest")
    post(
        dataset,
        secret,
        [conversation(n, "ft:canary", "down" if n < 3 else "up") for n in range(10)],
    )
    post(
        dataset, secret, [conversation(n, "ft:prod", "down" if n < 1 else "up") for n in range(20)]
    )
    report = canary_report(dataset)
    assert report["canary"]["rated"] == 10 and report["canary"]["negative"] == 3
    assert report["production"]["rated"] == 20 and report["production"]["negative"] == 1
    low, high = report["canary"]["ci95"]
    assert low < 0.3 < high
    assert report["difference_ci95"][0] < 0.25 < report["difference_ci95"][1]
    assert canary_stage(dataset) is not None  # no threshold set: nothing rolled back


def test_a_canary_clearly_worse_than_the_threshold_is_rolled_back_automatically(
    dataset, canary_setup, admin_user, token_for
):
    RegistrySettings.objects.create(dataset=dataset, canary_max_excess=0.1, canary_min_feedback=20)
    secret = token_for(admin_user, "ingest")
    post(
        dataset, secret, [conversation(n, "ft:prod", "down" if n < 2 else "up") for n in range(40)]
    )
    post(
        dataset,
        secret,
        [conversation(n, "ft:canary", "down" if n < 5 else "up") for n in range(20)],
    )
    assert canary_stage(dataset) is not None  # 25 % vs 5 %: not yet clear beyond 10 points
    post(
        dataset,
        secret,
        [conversation(n, "ft:canary", "down" if n < 45 else "up") for n in range(20, 60)],
    )
    assert canary_stage(dataset) is None
    event = StageEvent.objects.get(action=StageAction.CANARY_ROLLBACK)
    assert event.model.name == "ft:canary" and event.details["canary"]["negative"] == 30
    audit = AuditEvent.objects.get(action="model.canary_rollback")
    assert audit.actor is None and audit.details["feedback"]["difference_ci95"][0] > 0.1
