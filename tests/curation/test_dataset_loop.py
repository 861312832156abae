"""The dataset page and the home page say where a dataset is in the loop (import → personal
data → review → version → fine-tune → evaluate → promote → feed back) and the one next
action, with its count."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from curation.models import ConversationStatus
from tests.factories import ConversationFactory, FineTuneJobFactory, built_version
from training.evaluation.models import Comparison, EvalRun
from training.registry.models import Model, ModelKind
from training.registry.stages import ModelStage, StageName

pytestmark = pytest.mark.django_db


def next_action(html: str) -> str:
    found = re.search(r'<div class="loop-next">(.*?)</div>', html, re.S)
    assert found, "no next action on the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def dataset_page(client, dataset) -> str:  # type: ignore[no-untyped-def]
    return client.get(reverse("dataset_detail", args=[dataset.slug])).content.decode()


def home_page(client) -> str:  # type: ignore[no-untyped-def]
    return client.get(reverse("dataset_list")).content.decode()


def test_an_empty_dataset_asks_its_admin_to_import(dataset, admin_user, client_for):
    html = dataset_page(client_for(admin_user), dataset)
    assert next_action(html) == "Next: No conversations yet — Import conversations"
    assert f'href="{reverse("import_list", args=[dataset.slug])}"' in html


def test_an_empty_dataset_tells_a_reviewer_who_imports(dataset, reviewer, client_for):
    html = dataset_page(client_for(reviewer), dataset)
    assert next_action(html) == "Next: No conversations yet — a dataset admin imports them"


def test_conversations_in_review_make_review_the_next_action_with_their_count(
    dataset, reviewer, client_for
):
    ConversationFactory.create_batch(3, dataset=dataset)
    client = client_for(reviewer)
    html = dataset_page(client, dataset)
    assert next_action(html) == "Next: 3 waiting for review — Review"
    assert f'href="{reverse("review_start", args=[dataset.slug])}"' in html
    assert 'aria-current="step"' in html and "3 waiting · 0 approved" in html
    assert "Next (Review): 3 waiting for review — Review" in next_action(home_page(client))


def test_conversations_waiting_for_detection_come_before_review(dataset, admin_user, client_for):
    ConversationFactory.create_batch(2, dataset=dataset, status=ConversationStatus.PENDING_PII)
    ConversationFactory(dataset=dataset)
    html = dataset_page(client_for(admin_user), dataset)
    assert next_action(html) == ("Next: 2 waiting for personal-data detection — Personal data")


def test_approved_conversations_without_a_version_ask_the_admin_for_one(
    dataset, admin_user, reviewer, client_for
):
    ConversationFactory.create_batch(4, dataset=dataset, status=ConversationStatus.APPROVED)
    admin_html = dataset_page(client_for(admin_user), dataset)
    assert next_action(admin_html) == "Next: 4 approved, not in a version yet — New version"
    assert f'href="{reverse("version_create", args=[dataset.slug])}"' in admin_html
    reviewer_html = dataset_page(client_for(reviewer), dataset)
    assert next_action(reviewer_html) == (
        "Next: 4 approved, not in a version yet — a dataset admin builds the next version"
    )


def test_a_version_not_trained_yet_asks_for_a_fine_tune(dataset, admin_user, client_for):
    built_version(dataset, train=12, validation=3)
    html = dataset_page(client_for(admin_user), dataset)
    assert next_action(html) == "Next: Version 1 (15 examples) is not fine-tuned yet — Fine-tune"
    assert f'href="{reverse("finetune_launch", args=[dataset.slug])}"' in html


def _finished_finetune(dataset, *, validation=3, name="ft:demo", base=None):  # type: ignore[no-untyped-def]
    version = built_version(dataset, train=15 - validation, validation=validation)
    job = FineTuneJobFactory(
        dataset=dataset, version=version, status="succeeded", fine_tuned_model=name
    )
    if base is None:
        base = Model.objects.create(kind=ModelKind.BASE, provider="openai", name="gpt-4.1-mini")
    model = Model.objects.create(
        kind=ModelKind.HOSTED_FINETUNE,
        provider="openai",
        name=name,
        base=base,
        dataset=dataset,
        version=version,
        job=job,
    )
    return job, model


def test_a_finished_fine_tune_offers_one_click_evaluation_against_its_base(
    dataset, admin_user, client_for
):
    job, model = _finished_finetune(dataset)
    html = dataset_page(client_for(admin_user), dataset)
    assert next_action(html) == f"Next: Fine-tune #{job.pk} is not evaluated yet — Evaluate vs base"
    action = reverse("eval_quick", args=[dataset.slug, model.pk])
    assert re.search(rf'<form method="post" action="{action}"', html)
    assert 'name="csrfmiddlewaretoken"' in html


def test_a_promoted_fine_tune_points_at_feeding_production_back(dataset, admin_user, client_for):
    _job, model = _finished_finetune(dataset)
    ModelStage.objects.create(
        dataset=dataset, model=model, stage=StageName.PRODUCTION, since=timezone.now()
    )
    html = dataset_page(client_for(admin_user), dataset)
    assert next_action(html) == (
        "Next: Production conversations and their feedback come back through the API"
        " — Make an ingest token"
    )
    assert "✓ </span>Promote" in html


def _run(dataset, model, version):  # type: ignore[no-untyped-def]
    return EvalRun.objects.create(
        dataset=dataset, version=version, split="validation", model=model, status="succeeded"
    )


@pytest.mark.parametrize(
    ("site_judge", "judge_query"),
    [
        ("openai:gpt-4o", "&amp;judge=openai%3Agpt-4o"),  # a third model judges
        ("", ""),  # no site judge: none, never the base
        ("openai:gpt-4.1-mini", ""),  # the site judge is the base, a contestant: none
    ],
)
def test_an_evaluated_fine_tune_links_to_comparing_it_with_its_base(
    dataset, admin_user, client_for, settings, site_judge, judge_query
):
    settings.CURATOR_EVAL_JUDGE = site_judge
    job, model = _finished_finetune(dataset)
    base_run = _run(dataset, model.base, job.version)
    tuned_run = _run(dataset, model, job.version)
    html = dataset_page(client_for(admin_user), dataset)
    assert next_action(html) == (
        f"Next: Fine-tune #{job.pk} is evaluated, not yet compared with its base"
        " — Compare with its base"
    )
    url = reverse("eval_comparison_create", args=[dataset.slug])
    assert f'href="{url}?run_a={base_run.pk}&amp;run_b={tuned_run.pk}{judge_query}"' in html


def test_a_compared_fine_tune_links_to_its_registry_page_to_promote_it(
    dataset, admin_user, client_for
):
    job, model = _finished_finetune(dataset)
    base_run = _run(dataset, model.base, job.version)
    tuned_run = _run(dataset, model, job.version)
    Comparison.objects.create(dataset=dataset, run_a=base_run, run_b=tuned_run, status="succeeded")
    html = dataset_page(client_for(admin_user), dataset)
    assert next_action(html) == f"Next: Fine-tune #{job.pk} is compared, not promoted — Promote"
    assert f'href="{reverse("registry_model", args=[dataset.slug, model.pk])}"' in html


def test_a_fine_tune_whose_version_holds_nothing_back_says_so_instead_of_offering_evaluation(
    dataset, admin_user, client_for
):
    job, model = _finished_finetune(dataset, validation=0)
    html = dataset_page(client_for(admin_user), dataset)
    assert next_action(html) == (
        f"Next: Fine-tune #{job.pk} cannot be evaluated vs its base: version 1 holds no "
        "validation examples. Import more conversations and build a new version, or evaluate "
        "on another split — New evaluation"
    )
    assert f'href="{reverse("eval_run_create", args=[dataset.slug])}"' in html
    assert reverse("eval_quick", args=[dataset.slug, model.pk]) not in html


def test_the_evaluation_page_offers_evaluate_vs_base_only_where_the_version_holds_examples_back(
    dataset, admin_user, client_for
):
    _job, model = _finished_finetune(dataset)
    _empty_job, empty_model = _finished_finetune(
        dataset, validation=0, name="ft:empty", base=model.base
    )
    empty = empty_model.version
    html = client_for(admin_user).get(reverse("eval_home", args=[dataset.slug])).content.decode()
    assert reverse("eval_quick", args=[dataset.slug, model.pk]) in html
    assert reverse("eval_quick", args=[dataset.slug, empty_model.pk]) not in html
    assert f"no validation examples in {empty.label}" in html
