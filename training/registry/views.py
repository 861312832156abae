"""Registry pages: the dataset's models and stages with the timeline, a page per model
(lineage, evaluations, promotion), drift, and retraining. Members see them; dataset admins
promote, roll back, run canaries, change thresholds and retrain."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation.http import AuthenticatedHttpRequest, HtmxHttpRequest
from curation.models import Dataset
from curation.permissions import get_dataset_for_user, is_dataset_admin
from training.evaluation.models import Comparison, EvalRun
from training.permissions import (
    blind_open,
    get_model_for_user,
    get_retrain_for_user,
    sees_blind_results,
)
from training.registry import drift as drift_service
from training.registry.configure import registry_settings_update
from training.registry.feedback import canary_report, feedback_counts, settings_for
from training.registry.forms import CanaryForm, PromoteForm, RegistrySettingsForm, RetrainForm
from training.registry.models import Model
from training.registry.promotion import (
    PromotionRefused,
    comparisons_between,
    previous_production,
    production_stage,
    promote_model,
    rollback_production,
    start_canary,
    stop_canary,
    timeline,
)
from training.registry.retrain import RetrainError, create_retrain, retry_retrain
from training.registry.stages import ModelStage, RetrainRun, StageName


def _context(dataset: Dataset, **extra: Any) -> dict[str, Any]:
    return {"dataset": dataset, "is_admin": is_dataset_admin(dataset), **extra}


def _dataset_models(dataset: Dataset) -> list[Model]:
    stages = {stage.model_id: stage for stage in ModelStage.objects.filter(dataset=dataset)}
    models = list(
        Model.objects.usable_by(dataset)
        .filter(Q(dataset=dataset) | Q(stages__dataset=dataset) | Q(eval_runs__dataset=dataset))
        .select_related("version", "job")
        .distinct()
        .order_by("-created_at")
    )
    for model in models:
        stage = stages.get(model.pk)
        model.stage_name = stage.stage if stage else StageName.CANDIDATE
        model.stage_fraction = stage.fraction if stage else None
    return models


def registry_home(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    production = production_stage(dataset)
    return render(
        request,
        "training/registry/home.html",
        _context(
            dataset,
            production=production,
            rollback_to=previous_production(dataset, production.model) if production else None,
            canary=canary_report(dataset),
            models=_dataset_models(dataset),
            events=timeline(dataset),
            settings_form=RegistrySettingsForm(instance=settings_for(dataset), dataset=dataset),
            retrain_form=RetrainForm(dataset=dataset),
            retrains=RetrainRun.objects.filter(dataset=dataset).select_related("like")[:10],
            feedback=feedback_counts(dataset),
        ),
    )


def model_detail(request: AuthenticatedHttpRequest, slug: str, model_id: int) -> HttpResponse:
    dataset, model = get_model_for_user(request, slug, model_id)
    stage = ModelStage.objects.filter(dataset=dataset, model=model).first()
    production = production_stage(dataset)
    comparisons = (
        comparisons_between(dataset, model, production.model)
        if production and production.model_id != model.pk
        else Comparison.objects.none()
    )
    open_comparisons, open_runs = (
        (set(), set()) if sees_blind_results(request, dataset) else blind_open(dataset)
    )
    all_comparisons = (
        Comparison.objects.filter(dataset=dataset)
        .filter(Q(run_a__model=model) | Q(run_b__model=model))
        .exclude(pk__in=open_comparisons)
        .select_related("run_a__model", "run_b__model", "run_a__version")
        .order_by("-created_at")
    )
    return render(
        request,
        "training/registry/model_detail.html",
        _context(
            dataset,
            model=model,
            manifest=model.version.file_info("manifest.json") if model.version else None,
            stage=stage.stage if stage else StageName.CANDIDATE,
            production=production,
            runs=EvalRun.objects.filter(dataset=dataset, model=model)
            .exclude(pk__in=open_runs)
            .select_related("version")
            .order_by("-created_at"),
            comparisons=all_comparisons,
            other_stages=ModelStage.objects.filter(
                model=model, dataset__memberships__user=request.user
            )
            .exclude(dataset=dataset)
            .select_related("dataset"),
            promote_form=PromoteForm(comparisons=comparisons),
            gate=settings_for(dataset).gate,
            canary_form=CanaryForm(),
            is_staff=request.user.is_staff,
        ),
    )


@require_POST
def model_promote(request: HttpRequest, slug: str, model_id: int) -> HttpResponse:
    dataset, model = get_model_for_user(request, slug, model_id, admin=True)
    production = production_stage(dataset)
    comparisons = (
        comparisons_between(dataset, model, production.model)
        if production
        else Comparison.objects.none()
    )
    form = PromoteForm(request.POST, comparisons=comparisons)
    if not form.is_valid():
        messages.error(
            request, "; ".join(str(e) for errors in form.errors.values() for e in errors)
        )
        return redirect("registry_model", dataset.slug, model.pk)
    try:
        event = promote_model(
            dataset=dataset,
            model=model,
            user=request.user,
            comparison=form.cleaned_data["comparison"],
            force=form.cleaned_data["force"],
            reason=form.cleaned_data["reason"],
        )
    except PromotionRefused as error:
        messages.error(request, f"Not promoted: {error.reason}")
        return redirect("registry_model", dataset.slug, model.pk)
    messages.success(
        request,
        f"{model.ref} is now in production"
        + (f" (was {event.previous.ref})." if event.previous else " (first promotion).")
        + (" The gate was overridden." if event.forced else ""),
    )
    return redirect("registry_home", dataset.slug)


@require_POST
def registry_rollback(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    try:
        event = rollback_production(
            dataset=dataset, user=request.user, reason=request.POST.get("reason", "")
        )
    except PromotionRefused as error:
        messages.error(request, f"Not rolled back: {error.reason}")
    else:
        assert event.model is not None  # the event just written
        messages.success(request, f"Production is back to {event.model.ref}.")
    return redirect("registry_home", dataset.slug)


@require_POST
def model_canary(request: HttpRequest, slug: str, model_id: int) -> HttpResponse:
    dataset, model = get_model_for_user(request, slug, model_id, admin=True)
    form = CanaryForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The traffic fraction must be between 0.001 and 0.5.")
        return redirect("registry_model", dataset.slug, model.pk)
    try:
        start_canary(
            dataset=dataset, model=model, fraction=form.cleaned_data["fraction"], user=request.user
        )
    except PromotionRefused as error:
        messages.error(request, f"No canary: {error.reason}")
        return redirect("registry_model", dataset.slug, model.pk)
    messages.success(
        request, f"{model.ref} answers {form.cleaned_data['fraction']:.1%} of traffic."
    )
    return redirect("registry_home", dataset.slug)


@require_POST
def registry_canary_stop(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    if stop_canary(dataset=dataset, user=request.user) is None:
        messages.info(request, "There is no canary.")
    else:
        messages.success(request, "The canary is stopped; production answers all traffic.")
    return redirect("registry_home", dataset.slug)


@require_POST
def registry_settings(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    form = RegistrySettingsForm(request.POST, instance=settings_for(dataset), dataset=dataset)
    if not form.is_valid():
        messages.error(
            request,
            "Settings not saved: "
            + "; ".join(
                f"{name}: {' '.join(map(str, errors))}" for name, errors in form.errors.items()
            ),
        )
        return redirect("registry_home", dataset.slug)
    registry_settings_update(dataset=dataset, form=form, user=request.user)
    messages.success(request, "Registry settings saved.")
    return redirect("registry_home", dataset.slug)


@require_POST
def retrain_start(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    form = RetrainForm(request.POST, dataset=dataset)
    if not form.is_valid():
        messages.error(request, "Choose the fine-tune job to retrain like.")
        return redirect("registry_home", dataset.slug)
    try:
        run = create_retrain(
            dataset=dataset,
            like=form.cleaned_data["like"],
            user=request.user,
            judge=form.cleaned_data["judge"].strip() or None,
        )
    except RetrainError as error:
        messages.error(request, f"Not started: {error}")
        return redirect("registry_home", dataset.slug)
    messages.success(request, f"Retraining #{run.pk} started.")
    return redirect("retrain_detail", dataset.slug, run.pk)


def retrain_detail(request: HtmxHttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = get_retrain_for_user(request, slug, run_id)
    dataset = run.dataset
    template = (
        "training/registry/_retrain_steps.html"
        if request.htmx
        else "training/registry/retrain_detail.html"
    )
    return render(request, template, _context(dataset, run=run))


@require_POST
def retrain_retry(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = get_retrain_for_user(request, slug, run_id, admin=True)
    dataset = run.dataset
    if retry_retrain(run=run, user=request.user):
        messages.success(
            request, f"Retraining #{run.pk} goes on from step “{run.get_step_display()}”."
        )
    else:
        messages.info(request, "Only a failed retraining whose worker is gone can be retried.")
    return redirect("retrain_detail", dataset.slug, run.pk)


def drift(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    report = drift_service.drift_report(dataset)
    return render(
        request,
        "training/registry/drift.html",
        _context(
            dataset,
            report=report,
            tokens_chart=drift_service.chart(report, "tokens"),
            turns_chart=drift_service.chart(report, "turns"),
            feedback_chart=drift_service.feedback_chart(report),
        ),
    )
