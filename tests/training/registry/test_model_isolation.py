"""Datasets are isolated wherever a model is named: another dataset's fine-tune is "not
found" in the API, the CLI, the forms, evaluation, judges, pre-scores, retraining,
promotion, lineage pages and suggestions, until site staff share it (audited). Malformed
references answer 4xx, never 500."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from curation.models import AuditEvent, Role
from tests.factories import DatasetFactory, FineTuneJobFactory, MembershipFactory, UserFactory
from training.evaluation.models import EvalRun
from training.evaluation.services.comparisons import ComparisonError, create_comparison
from training.evaluation.services.prescore import PreScoreError, create_prescore_run
from training.evaluation.services.runs import EvaluationError, create_eval_run
from training.registry.models import Model
from training.registry.promotion import PromotionRefused, promote_model
from training.registry.retrain import RetrainError, create_retrain
from training.registry.services import (
    UnknownModel,
    model_choices,
    register_finetuned_model,
    resolve_model,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign(version: Any) -> Model:
    """A fine-tune of another dataset, registered as its job succeeded."""
    other = DatasetFactory(slug="other")
    job = FineTuneJobFactory(
        dataset=other, status="succeeded", fine_tuned_model="ft:gpt-4.1-mini:other::secret"
    )
    model = register_finetuned_model(job=job)
    assert model is not None
    return model


@pytest.fixture
def own_run(dataset: Any, version: Any, make_model: Any) -> EvalRun:
    return EvalRun.objects.create(
        dataset=dataset, version=version, model=make_model("ft:own"), status="succeeded"
    )


def refs(model: Model) -> list[str]:
    return [f"job:{model.job_id}", f"{model.provider}:{model.name}"]


@pytest.mark.parametrize("form", ["job", "provider"])
def test_the_resolver_does_not_find_another_datasets_finetune(dataset, foreign, form):
    ref = refs(foreign)[0 if form == "job" else 1]
    with pytest.raises(UnknownModel, match=f"in {dataset.slug}"):
        resolve_model(ref, dataset=dataset)
    assert resolve_model(ref, dataset=foreign.dataset) == foreign


def test_evaluation_model_and_judge_refuse_it(dataset, version, foreign):
    for ref in refs(foreign):
        with pytest.raises(EvaluationError, match="no "):
            create_eval_run(dataset=dataset, version=version, model=ref, enqueue=False)
        with pytest.raises(EvaluationError, match="no "):
            create_eval_run(
                dataset=dataset, version=version, model="openai:gpt-4o", judge=ref, enqueue=False
            )
    with pytest.raises(EvaluationError, match="no "):
        create_eval_run(dataset=dataset, version=version, model=foreign, enqueue=False)


def test_comparison_judges_and_prescores_refuse_it(dataset, version, foreign, own_run, make_model):
    other_run = EvalRun.objects.create(
        dataset=dataset, version=version, model=make_model("ft:own2"), status="succeeded"
    )
    with pytest.raises(ComparisonError, match="no "):
        create_comparison(run_a=own_run, run_b=other_run, judge=refs(foreign)[0])
    with pytest.raises(PreScoreError, match="no "):
        create_prescore_run(dataset=dataset, judge=refs(foreign)[1], enqueue=False)


def test_retraining_refuses_it_as_judge(dataset, foreign):
    like = FineTuneJobFactory(dataset=dataset, status="succeeded", fine_tuned_model="ft:mine")
    with pytest.raises(RetrainError, match="judge: no "):
        create_retrain(dataset=dataset, like=like, user=None, judge=refs(foreign)[0])


def test_promotion_refuses_it_in_the_service_the_cli_and_the_api(
    dataset, foreign, admin_user, token_for
):
    with pytest.raises(PromotionRefused, match="no model"):
        promote_model(dataset=dataset, model=foreign, user=admin_user)
    with pytest.raises(CommandError, match="no fine-tune job"):
        call_command("promote", "--dataset", dataset.slug, "--model", refs(foreign)[0])
    response = Client().post(
        f"/api/v1/datasets/{dataset.slug}/production-model",
        {"model": refs(foreign)[0]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user, 'admin')}",
    )
    assert response.status_code == 422 and "secret" not in response.content.decode()


def test_the_cli_evaluate_refuses_it(dataset, version, foreign):
    with pytest.raises(CommandError, match="no fine-tune job"):
        call_command(
            "evaluate",
            "--dataset",
            dataset.slug,
            "--version",
            str(version.number),
            "--model",
            refs(foreign)[0],
            stdout=io.StringIO(),
        )


def test_forms_refuse_it_and_suggest_only_what_the_dataset_may_use(
    dataset, version, foreign, admin_user, client_for
):
    client = client_for(admin_user)
    page = client.get(reverse("eval_run_create", args=[dataset.slug])).content.decode()
    assert "secret" not in page
    assert foreign.ref not in dict(model_choices(dataset))
    assert foreign.ref in dict(model_choices(foreign.dataset))
    response = client.post(
        reverse("eval_run_create", args=[dataset.slug]),
        {
            "version": version.number,
            "split": "validation",
            "model": refs(foreign)[0],
            "temperature": 0,
            "max_tokens": 16,
            "seed": 0,
            "concurrency": 1,
        },
    )
    assert response.status_code == 200 and "no fine-tune job" in response.content.decode()
    assert not EvalRun.objects.filter(model=foreign).exists()


def test_the_lineage_page_of_a_foreign_model_is_not_found(
    dataset, version, foreign, admin_user, client_for
):
    # Even a run of it that exists on this dataset (made before isolation) does not open it.
    EvalRun.objects.create(dataset=dataset, version=version, model=foreign, status="succeeded")
    response = client_for(admin_user).get(
        reverse("registry_model", args=[dataset.slug, foreign.pk])
    )
    assert response.status_code == 404


@pytest.mark.parametrize("ref", ["job:²", "job:٣", "job:" + "9" * 40, "openai:" + "x" * 300])
def test_malformed_references_are_4xx_never_500(dataset, admin_user, token_for, ref):
    with pytest.raises(UnknownModel):
        resolve_model(ref, dataset=dataset)
    response = Client().post(
        f"/api/v1/datasets/{dataset.slug}/production-model",
        {"model": ref},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user, 'admin')}",
    )
    assert response.status_code == 422


def test_staff_sharing_makes_it_usable_and_is_audited(dataset, version, foreign, admin_user):
    with pytest.raises(CommandError, match="only site staff"):
        call_command(
            "share_model",
            "--dataset",
            "other",
            "--model",
            foreign.ref,
            "--with",
            dataset.slug,
            "--as",
            "admin",
        )
    staff = UserFactory(username="staff", is_staff=True)
    MembershipFactory(dataset=dataset, user=staff, role=Role.ADMIN)
    call_command(
        "share_model",
        "--dataset",
        "other",
        "--model",
        foreign.ref,
        "--with",
        dataset.slug,
        "--as",
        "staff",
        stdout=io.StringIO(),
    )
    assert resolve_model(refs(foreign)[0], dataset=dataset) == foreign
    assert foreign.ref in dict(model_choices(dataset))
    run = create_eval_run(dataset=dataset, version=version, model=foreign, enqueue=False)
    assert run.model == foreign
    audit = AuditEvent.objects.get(action="model.share")
    assert audit.actor == staff and audit.details["owner"] == "other"
