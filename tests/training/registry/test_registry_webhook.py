"""The signed outgoing webhook on promotion and rollback, sent by a real RQ worker."""

from __future__ import annotations

import hashlib
import hmac
import json

import django_rq
import pytest

from training.registry.promotion import promote_model, rollback_production

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

SECRET = "registry-webhook-secret"


def test_promotion_and_rollback_post_signed_events(
    dataset,
    make_model,
    make_comparison,
    admin_user,
    webhook_receiver,
    run_worker,
    settings,
    monkeypatch,
):
    settings.CURATOR_REGISTRY_WEBHOOK_URL = webhook_receiver.url
    settings.CURATOR_REGISTRY_WEBHOOK_SECRET = SECRET
    monkeypatch.setenv("CURATOR_REGISTRY_WEBHOOK_URL", webhook_receiver.url)
    monkeypatch.setenv("CURATOR_REGISTRY_WEBHOOK_SECRET", SECRET)
    old, new = make_model("ft:old"), make_model("ft:new")
    promote_model(dataset=dataset, model=old, user=admin_user)
    make_comparison(old, new, winners=["b"] * 40)
    promote_model(dataset=dataset, model=new, user=admin_user)
    rollback_production(dataset=dataset, user=admin_user)
    run_worker("default")
    received = webhook_receiver.wait_for(3)
    events = []
    for delivery in received:
        expected = "sha256=" + hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(delivery.headers["x-curator-signature"], expected)
        events.append(json.loads(delivery.body))
    events.sort(key=lambda event: event["id"])
    assert [e["event"] for e in events] == ["promote", "promote", "rollback"]
    assert events[1]["model"] == "ft:new" and events[1]["previous"] == "ft:old"
    assert events[2]["model"] == "ft:old" and events[2]["production"]["model"] == "ft:old"
    assert all(e["dataset"] == dataset.slug for e in events)


def test_no_webhook_is_queued_without_a_url(dataset, make_model, admin_user, settings):
    settings.CURATOR_REGISTRY_WEBHOOK_URL = ""
    queue = django_rq.get_queue("default")
    queue.empty()
    promote_model(dataset=dataset, model=make_model("ft:only"), user=admin_user)
    assert queue.count == 0
