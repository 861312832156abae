"""The CLI (promote, rollback, create_token; JSON last line) and what serving code reads."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from curation.models import AccessToken, AuditEvent
from training.registry.promotion import start_canary

pytestmark = pytest.mark.django_db


def run(command: str, *args: str) -> dict:
    out = io.StringIO()
    call_command(command, *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_promote_rollback_and_read_production_from_the_api(
    dataset, make_model, make_comparison, admin_user
):
    old, new = make_model("ft:gpt-4o-mini:acme::old"), make_model("ft:gpt-4o-mini:acme::new")
    assert run("promote", "--dataset", dataset.slug, "--model", old.ref) == {
        "dataset": dataset.slug,
        "production": old.name,
        "previous": None,
        "forced": False,
        "comparison": None,
    }
    comparison = make_comparison(old, new, winners=["b"] * 40)
    promoted = run(
        "promote", "--dataset", dataset.slug, "--model", new.ref, "--comparison", str(comparison.pk)
    )
    assert promoted["production"] == new.name and promoted["previous"] == old.name
    secret = run("create_token", "--user", "admin", "--scope", "ingest", "--dataset", dataset.slug)[
        "token"
    ]
    api = Client()
    answer = api.get(
        f"/api/v1/datasets/{dataset.slug}/production-model", HTTP_AUTHORIZATION=f"Bearer {secret}"
    ).json()
    assert answer["model"] == new.name and answer["provider"] == "openai"
    assert answer["version"] == new.version.number and answer["canary"] is None
    assert answer["promoted_at"]
    start_canary(dataset=dataset, model=old, fraction=0.05, user=admin_user)
    answer = api.get(
        f"/api/v1/datasets/{dataset.slug}/production-model", HTTP_AUTHORIZATION=f"Bearer {secret}"
    ).json()
    assert answer["canary"] == {"model": old.name, "fraction": 0.05}
    assert run("rollback", "--dataset", dataset.slug) == {
        "dataset": dataset.slug,
        "production": old.name,
        "previous": new.name,
    }
    assert AuditEvent.objects.filter(action="model.rollback", actor=None).exists()


def test_a_refused_promotion_is_a_one_line_error_with_the_numbers(
    dataset, make_model, make_comparison
):
    old, new = make_model("ft:old"), make_model("ft:new")
    run("promote", "--dataset", dataset.slug, "--model", old.ref)
    make_comparison(old, new, winners=["a"] * 20 + ["b"] * 20)
    out = io.StringIO()
    with pytest.raises(CommandError, match="20 wins, 20 losses"):
        call_command("promote", "--dataset", dataset.slug, "--model", new.ref, "--json", stdout=out)
    refusal = json.loads(out.getvalue().strip().splitlines()[-1])
    assert refusal["refused"] is True and "better than production" in refusal["reason"]
    assert refusal["gate"]["gate"]["evidence"] == "judge"
    assert refusal["gate"]["test"]["p_value"] > 0.5
    with pytest.raises(CommandError, match="--reason"):
        run("promote", "--dataset", dataset.slug, "--model", new.ref, "--force")
    forced = run(
        "promote", "--dataset", dataset.slug, "--model", new.ref, "--force", "--reason", "ops call"
    )
    assert forced["forced"] is True and forced["production"] == new.name


def test_create_token_prints_the_secret_once_scoped_to_the_dataset(dataset, admin_user, outsider):
    made = run("create_token", "--user", "admin", "--scope", "read", "--dataset", dataset.slug)
    token = AccessToken.authenticate(made["token"])
    assert token.scope == "read" and token.dataset == dataset and token.user == admin_user
    assert made["token"] not in str(AuditEvent.objects.get(action="token.create").details)
    with pytest.raises(CommandError, match="not a member"):
        run("create_token", "--user", "outsider", "--scope", "read", "--dataset", dataset.slug)


def test_production_model_without_promotion_is_404_json(dataset, admin_user, token_for):
    response = Client().get(
        f"/api/v1/datasets/{dataset.slug}/production-model",
        HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user, 'read')}",
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_production_model"


def test_admin_tokens_promote_and_roll_back_through_the_api(
    dataset, make_model, make_comparison, admin_user, token_for
):
    old, new = make_model("ft:old"), make_model("ft:new")
    api = Client()
    admin = {"HTTP_AUTHORIZATION": f"Bearer {token_for(admin_user, 'admin')}"}
    url = f"/api/v1/datasets/{dataset.slug}/production-model"
    first = api.post(url, {"model": old.ref}, content_type="application/json", **admin)
    assert first.status_code == 200 and first.json()["model"] == old.name
    refused = api.post(url, {"model": new.ref}, content_type="application/json", **admin)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "gate_refused"
    make_comparison(old, new, winners=["b"] * 40)
    assert (
        api.post(url, {"model": new.ref}, content_type="application/json", **admin).json()["model"]
        == new.name
    )
    read = {"HTTP_AUTHORIZATION": f"Bearer {token_for(admin_user, 'read')}"}
    assert api.post(f"/api/v1/datasets/{dataset.slug}/rollback", **read).status_code == 403
    back = api.post(f"/api/v1/datasets/{dataset.slug}/rollback", **admin)
    assert back.json()["model"] == old.name
