"""Dataset versions: create (with a live preview), follow the build, compare, delete; and
the training price table. Downloads are in `curation.views.version_downloads`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from curation.forms import PriceFormSet, VersionForm, VersionPairForm
from curation.http import HtmxHttpRequest
from curation.models import (
    COMPARED_STATUSES,
    Dataset,
    TrainingPrice,
    VersionFormat,
    VersionStatus,
)
from curation.permissions import (
    get_dataset_for_user,
    get_version_for_user,
    get_version_pair_for_user,
    is_dataset_admin,
    require_staff,
)
from curation.services.prices import prices_save
from curation.services.retries import job_retry
from curation.services.versions.diff import diff_page
from curation.services.versions.files import VersionError, delete_version
from curation.services.versions.preview import (
    create_version,
    default_seed,
    normalize_filter,
    preview_version,
)
from curation.views.flash import flash_queued

DIFF_PAGE_ROWS = 500
# Edited examples shown with their text (each reads two lines from storage).
DIFF_TEXT_ROWS = 50


def comparable_numbers(dataset: Dataset) -> list[int]:
    return list(
        dataset.versions.filter(status__in=COMPARED_STATUSES)
        .order_by("number")
        .values_list("number", flat=True)
    )


# -- pages --------------------------------------------------------------------------------


def version_list(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    versions = list(dataset.versions.select_related("created_by"))
    numbers = [
        version.number for version in reversed(versions) if version.status in COMPARED_STATUSES
    ]
    pair_form = None
    if len(numbers) >= 2:
        pair_form = VersionPairForm(initial={"a": numbers[-2], "b": numbers[-1]}, numbers=numbers)
    return render(
        request,
        "curation/version_list.html",
        {
            "dataset": dataset,
            "versions": versions,
            "pair_form": pair_form,
            "is_admin": is_dataset_admin(dataset),
        },
    )


def version_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The form, its preview (counts, tokens, cost) and, on "Freeze", the new version.

    The preview is a POST too (button `action=preview`, or htmx on every change) so that the
    CSRF token never ends up in a URL; it creates nothing.
    """
    dataset = get_dataset_for_user(request, slug, admin=True)
    initial: dict[str, Any] = {
        "validation_fraction": settings.CURATOR_VALIDATION_FRACTION,
        "seed": default_seed(dataset),
        "prepend_system_prompt": True,
    }
    if request.method == "POST":
        form = VersionForm(request.POST, dataset=dataset)
        if form.is_valid() and request.POST.get("action") != "preview":
            try:
                version = create_version(
                    dataset=dataset,
                    user=request.user,
                    filter=form.selection(),
                    validation_fraction=form.cleaned_data["validation_fraction"],
                    seed=form.cleaned_data["seed"],
                    notes=form.cleaned_data["notes"],
                    prepend_system_prompt=form.cleaned_data.get("prepend_system_prompt", False),
                    format=form.cleaned_data.get("format") or VersionFormat.SFT,
                )
            except VersionError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"Version {version.number} is being built.")
                return redirect(version)
    else:
        form = VersionForm(initial=initial, dataset=dataset)
    preview = None
    if form.is_bound and form.is_valid():
        preview = preview_version(
            dataset=dataset,
            filter=form.selection(),
            validation_fraction=form.cleaned_data["validation_fraction"],
            seed=form.cleaned_data["seed"],
            prepend_system_prompt=form.cleaned_data.get("prepend_system_prompt", False),
            format=form.cleaned_data.get("format") or VersionFormat.SFT,
        )
    elif not form.is_bound:
        preview = preview_version(
            dataset=dataset,
            filter=normalize_filter(),
            validation_fraction=initial["validation_fraction"],
            seed=initial["seed"],
        )
    template = "curation/version_create.html"
    if request.htmx and request.POST.get("fragment") == "preview":
        template += "#preview"
    next_number = (
        dataset.versions.order_by("-number").values_list("number", flat=True).first() or 0
    ) + 1
    return render(
        request,
        template,
        {
            "dataset": dataset,
            "form": form,
            "preview": preview,
            "next_number": next_number,
            "is_admin": True,
        },
    )


def version_detail(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    version = get_version_for_user(request, slug, number)
    template = "curation/version_detail.html"
    if request.htmx and request.GET.get("fragment") == "progress":
        template += "#progress"
    return render(
        request,
        template,
        {
            "dataset": version.dataset,
            "version": version,
            "files": version.available_files(),
            "others": version.dataset.versions.exclude(pk=version.pk)
            .filter(status__in=COMPARED_STATUSES)
            .values_list("number", flat=True),
            "is_admin": is_dataset_admin(version.dataset),
        },
    )


def version_datasheet(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = get_version_for_user(request, slug, number)
    if version.status not in (VersionStatus.SUCCEEDED, VersionStatus.DELETED):
        raise Http404("This version has not been built.")
    stats = version.stats or {}
    tokens = stats.get("tokens", {})
    return render(
        request,
        "curation/version_datasheet.html",
        {
            "dataset": version.dataset,
            "version": version,
            "stats": stats,
            "token_bars": _bars(tokens.get("histogram", [])),
            "score_bars": _bars(stats.get("scores", {}).get("histogram", [])),
            "is_admin": is_dataset_admin(version.dataset),
        },
    )


def _bars(histogram: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Histogram rows with a width in percent of the largest bucket, for CSS bars."""
    top = max((row["examples"] for row in histogram), default=0) or 1
    return [{**row, "percent": round(100 * row["examples"] / top)} for row in histogram]


@require_POST
def version_retry(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = get_version_for_user(request, slug, number, admin=True)
    if job_retry(job=version, dataset=version.dataset, action="version.retry", user=request.user):
        flash_queued(request, version, "Building again from the start.")
    else:
        messages.error(
            request,
            f"Only a failed build can be retried; this one is {version.get_status_display().lower()}.",
        )
    return redirect(version)


@require_POST
def version_delete(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = get_version_for_user(request, slug, number, admin=True)
    if delete_version(version=version, user=request.user):
        messages.success(
            request, f"Deleted the files of version {version.number}; its manifest is kept."
        )
    else:
        messages.error(
            request,
            f"Version {version.number} is {version.get_status_display().lower()}; it cannot be deleted now.",
        )
    return redirect(version)


def version_diff(request: HttpRequest, slug: str, number: int, other: int) -> HttpResponse:
    old, new = get_version_pair_for_user(request, slug, number, other)
    page = diff_page(old=old, new=new, limit=DIFF_PAGE_ROWS, text_limit=DIFF_TEXT_ROWS)
    return render(
        request,
        "curation/version_diff.html",
        {
            "dataset": old.dataset,
            "old": old,
            "new": new,
            "counts": page.counts,
            "entries": page.sections,
            "limit": page.limit,
            "text_limit": page.text_limit,
            "pair_form": VersionPairForm(
                initial={"a": old.number, "b": new.number},
                numbers=comparable_numbers(old.dataset),
            ),
            "is_admin": is_dataset_admin(old.dataset),
        },
    )


@require_safe
def version_compare(request: HttpRequest, slug: str) -> HttpResponse:
    """Pick two versions (a plain GET form, no JS needed); a valid pick goes to their diff."""
    dataset = get_dataset_for_user(request, slug)
    numbers = comparable_numbers(dataset)
    form = VersionPairForm(request.GET or None, numbers=numbers)
    if form.is_bound and form.is_valid():
        return redirect(
            "version_diff", dataset.slug, form.cleaned_data["a"], form.cleaned_data["b"]
        )
    if not form.is_bound and len(numbers) >= 2:
        form = VersionPairForm(initial={"a": numbers[-2], "b": numbers[-1]}, numbers=numbers)
    return render(
        request,
        "curation/version_compare.html",
        {
            "dataset": dataset,
            "pair_form": form,
            "numbers": numbers,
            "is_admin": is_dataset_admin(dataset),
        },
    )


# -- prices ------------------------------------------------------------------------------


def price_list(request: HttpRequest) -> HttpResponse:
    require_staff(request, "Only site staff can change training prices.")
    formset = PriceFormSet(request.POST or None, queryset=TrainingPrice.objects.seeded())
    if request.method == "POST" and formset.is_valid():
        prices_save(
            saved=formset.save(commit=False), deleted=formset.deleted_objects, user=request.user
        )
        messages.success(request, "Prices saved.")
        return redirect("price_list")
    return render(request, "curation/price_list.html", {"formset": formset})
