"""Training pages: launch, follow and cancel fine-tunes (dataset admins only), and the
provider webhook. Reviewers never launch training, so every page here is for admins."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from curation.http import HtmxHttpRequest
from curation.models import DatasetVersion, JobStatus, VersionStatus
from curation.permissions import get_dataset_for_user
from curation.token_auth import download_view
from training.forms import LaunchForm
from training.models import AUTO, HYPERPARAMETERS, FineTuneJob, FineTuneMethod
from training.permissions import get_finetune_for_user
from training.providers import ProviderConfig, ProviderError, available_providers
from training.services import (
    LaunchCheck,
    LaunchError,
    WebhookRejected,
    cancel_finetune,
    check_launch,
    create_finetune_job,
    handle_openai_webhook,
    retry_finetune,
)
from training.services.downloads import (
    adapter_entries,
    adapter_zip_chunks,
    record_adapter_download,
    zip_name,
)
from training.services.serving import NotServable, serving_deploy, serving_undeploy

logger = logging.getLogger(__name__)

EVENTS_SHOWN = 200


def _simulator_in_use() -> list[ProviderConfig]:
    """The offered providers that go to the simulator (the page notes name them)."""
    return [config for config in available_providers() if config.is_simulator]


def _job_page(
    request: HtmxHttpRequest, jobs: QuerySet[FineTuneJob], template: str
) -> tuple[Page, str]:
    """The requested page of ``jobs`` and what to render it with:
    both job lists poll their shared job table (``?fragment=table``) while a job runs."""
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    if request.htmx and request.GET.get("fragment") == "table":
        template += "#job-table"
    return page, template


def training_jobs(request: HtmxHttpRequest) -> HttpResponse:
    """Fine-tunes across the datasets the user administers."""
    jobs = FineTuneJob.objects.administered_by(request.user).select_related(
        "dataset", "version", "created_by"
    )
    page, template = _job_page(request, jobs, "training/training_jobs.html")
    return render(
        request,
        template,
        {
            "page": page,
            "any_active": any(job.is_active for job in page),
            "show_dataset": True,
            "simulator_in_use": _simulator_in_use(),
        },
    )


def finetune_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    jobs = FineTuneJob.objects.for_dataset(dataset).select_related("version", "created_by")
    page, template = _job_page(request, jobs, "training/finetune_list.html")
    for job in page:
        job.dataset = dataset  # spares the table a query per row
    return render(
        request,
        template,
        {
            "dataset": dataset,
            "is_admin": True,
            "page": page,
            "any_active": any(job.is_active for job in page),
            "has_built_versions": DatasetVersion.objects.filter(
                dataset=dataset, status=VersionStatus.SUCCEEDED
            ).exists(),
            "simulator_in_use": _simulator_in_use(),
        },
    )


def _launch_check(form: LaunchForm) -> LaunchCheck | None:
    """The check and estimate for whatever the form holds so far (None without a version)."""
    if form.is_bound:
        form.is_valid()
        values: dict[str, Any] = dict(getattr(form, "cleaned_data", {}))
    else:
        values = {
            name: form.get_initial_for_field(field, name) for name, field in form.fields.items()
        }
        number = str(values.get("version") or "")
        values["version"] = (
            form.fields["version"].queryset.filter(number=int(number)).first()  # type: ignore[attr-defined]  # a ModelChoiceField
            if number.isdigit()
            else None
        )
    version = values.get("version")
    if not isinstance(version, DatasetVersion) or not values.get("provider"):
        return None
    hyperparameters = {
        name: values[name]
        for name in HYPERPARAMETERS
        if not isinstance(values.get(name, AUTO), str)
    }
    if values.get("full_training"):
        hyperparameters["lora"] = False
    return check_launch(
        version=version,
        provider=values["provider"],
        base_model=values.get("base_model") or "",
        hyperparameters=hyperparameters,
        method=str(values.get("method") or FineTuneMethod.SUPERVISED),
    )


def finetune_launch(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug, admin=True)
    problems: list[str] = []
    if request.method == "POST":
        form = LaunchForm(request.POST, dataset=dataset)
        if "check" not in request.POST and form.is_valid():
            try:
                job = create_finetune_job(
                    version=form.cleaned_data["version"],
                    provider=form.cleaned_data["provider"],
                    base_model=form.cleaned_data["base_model"],
                    method=form.cleaned_data["method"],
                    hyperparameters=form.hyperparameters,
                    suffix=form.cleaned_data["suffix"],
                    seed=form.cleaned_data["seed"],
                    user=request.user,
                )
            except LaunchError as error:
                problems = error.problems
            else:
                messages.success(
                    request, f"Fine-tune #{job.pk} queued; it starts in the background."
                )
                return redirect(job)
    elif request.htmx and request.GET.get("fragment") == "check":
        form = LaunchForm(request.GET, dataset=dataset)
    else:
        # Prefill from the query string (e.g. "Launch again with these settings").
        initial = {
            name: request.GET[name] for name in LaunchForm.base_fields if name in request.GET
        }
        form = LaunchForm(initial=initial, dataset=dataset)
    check = _launch_check(form)
    template = "training/finetune_launch.html"
    if request.htmx and request.GET.get("fragment") == "check":
        template += "#launch-check"
    return render(
        request,
        template,
        {
            "dataset": dataset,
            "is_admin": True,
            "form": form,
            "check": check,
            "problems": problems,
            "simulator_in_use": _simulator_in_use(),
        },
    )


def finetune_detail(request: HtmxHttpRequest, slug: str, job_id: int) -> HttpResponse:
    job = get_finetune_for_user(request, slug, job_id)
    template = "training/finetune_detail.html"
    if request.htmx and request.GET.get("fragment") == "live":
        template += "#live"
    event_count = job.events.count()
    return render(
        request,
        template,
        {
            "dataset": job.dataset,
            "is_admin": True,
            "job": job,
            "events": job.events.order_by("-created_at", "-id")[:EVENTS_SHOWN],
            "event_count": event_count,
            "events_hidden": max(0, event_count - EVENTS_SHOWN),
            "checkpoints": job.checkpoints.all(),
            "curve": job.curve(),
            "metric_rows": job.metric_table(),
        },
    )


def finetune_cancel(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """GET asks for confirmation (works without JS); POST cancels."""
    job = get_finetune_for_user(request, slug, job_id)
    if request.method == "POST":
        done, message = cancel_finetune(job=job, user=request.user)
        (messages.success if done else messages.error)(request, message)
        return redirect(job)
    if not job.can_cancel:
        messages.error(request, f"This job is already {job.get_status_display().lower()}.")
        return redirect(job)
    return render(
        request,
        "training/finetune_cancel.html",
        {"dataset": job.dataset, "is_admin": True, "job": job},
    )


@require_POST
def finetune_serve(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """Deploy (where Curator may) and check that the fine-tune answers; ``undeploy`` removes
    the deployment Curator created."""
    job = get_finetune_for_user(request, slug, job_id)
    try:
        if request.POST.get("action") == "undeploy":
            entry = serving_undeploy(job=job, user=request.user)
        else:
            entry = serving_deploy(job=job, user=request.user)
    except (NotServable, ProviderError) as error:
        messages.error(request, str(error))
        return redirect(job)
    notify = messages.success if entry["state"] == "answering" else messages.warning
    notify(request, f"{entry['model']}: {entry['state'].replace('_', ' ')}. {entry['detail']}")
    return redirect(job)


@require_POST
def finetune_retry(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    job = get_finetune_for_user(request, slug, job_id)
    if retry_finetune(job=job, user=request.user):
        messages.success(request, "Retrying; uploaded files and any remote job are reused.")
    elif job.refused_as_sent:
        messages.error(
            request,
            f"The provider refused what this job sends ({job.error}); a retry would send it "
            "unchanged: use 'Launch again with these settings' and change what it names.",
        )
    elif job.status == JobStatus.FAILED:
        messages.error(
            request,
            "The provider itself ended this job, so there is nothing to resume: "
            "use 'Launch again with these settings'.",
        )
    else:
        messages.error(
            request,
            f"Only a failed job can be retried; this one is {job.get_status_display().lower()}.",
        )
    return redirect(job)


@download_view
@require_safe
def finetune_adapter_zip(request: HttpRequest, slug: str, job_id: int) -> HttpResponseBase:
    """The trained adapter (``?merged=1``: with merged weights) and its model card as one
    zip; scripts fetch it with ``Authorization: Bearer <token>``."""
    job = get_finetune_for_user(request, slug, job_id)
    merged = request.GET.get("merged") == "1"
    if not adapter_entries(job, merged=merged):
        raise Http404("This job has no trained adapter in storage.")
    if request.method == "GET":
        token = getattr(getattr(request, "access_token", None), "prefix", None)
        record_adapter_download(job=job, user=request.user, merged=merged, token=token)
    response = StreamingHttpResponse(
        adapter_zip_chunks(job, merged=merged), content_type="application/zip"
    )
    response["Content-Disposition"] = f'attachment; filename="{zip_name(job, merged=merged)}"'
    response["Cache-Control"] = "private, no-transform"
    return response


@csrf_exempt
@login_not_required
@require_POST
def openai_webhook(request: HttpRequest) -> HttpResponse:
    """Signed deliveries from OpenAI (or the simulator); the signature is the only auth."""
    try:
        outcome = handle_openai_webhook(payload=request.body, headers=request.headers)
    except WebhookRejected as error:
        logger.warning("rejected webhook: %s", error)
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"ok": True, "outcome": outcome})
