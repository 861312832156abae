from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation.forms import ImportUploadForm
from curation.http import HtmxHttpRequest
from curation.permissions import get_batch_for_user, get_dataset_for_user, is_dataset_admin
from curation.selectors.imports import import_warnings
from curation.services.imports import create_import_batch
from curation.services.retries import job_retry
from curation.views.flash import flash_queued


def import_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    admin = is_dataset_admin(dataset)
    form = ImportUploadForm()
    if request.method == "POST":
        dataset = get_dataset_for_user(request, slug, admin=True)
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            batches = [
                create_import_batch(
                    dataset=dataset,
                    uploaded=upload,
                    original_name=upload.name,
                    fmt=form.cleaned_data["format"],
                    user=request.user,
                )
                for upload in form.cleaned_data["files"]
            ]
            names = ", ".join(batch.original_name for batch in batches)
            flash_queued(request, batches, f"Uploaded {names}; importing in the background.")
            if len(batches) == 1:
                return redirect(batches[0])
            return redirect("import_list", slug=dataset.slug)
    page = Paginator(dataset.batches.select_related("created_by"), 25).get_page(
        request.GET.get("page")
    )
    template = "curation/import_list.html"
    if request.htmx and request.GET.get("fragment") == "table":
        template += "#batch-table"
    return render(
        request, template, {"dataset": dataset, "page": page, "form": form, "is_admin": admin}
    )


def import_detail(request: HtmxHttpRequest, slug: str, batch_id: int) -> HttpResponse:
    batch = get_batch_for_user(request, slug, batch_id)
    template = "curation/import_detail.html"
    if request.htmx and request.GET.get("fragment") == "progress":
        template += "#progress"
    errors = Paginator(batch.line_errors.all(), 100).get_page(request.GET.get("page"))
    return render(
        request,
        template,
        {
            "dataset": batch.dataset,
            "batch": batch,
            "errors": errors,
            "warnings": import_warnings(batch),
            "is_admin": is_dataset_admin(batch.dataset),
        },
    )


# Spreadsheets run cells starting with these as formulas; a leading quote keeps them text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def import_errors_csv(request: HttpRequest, slug: str, batch_id: int) -> StreamingHttpResponse:
    batch = get_batch_for_user(request, slug, batch_id)
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(["file", batch.numbered_by, "field", "reason"])
        for error in batch.line_errors.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    spreadsheet_safe(cell)
                    for cell in (batch.original_name, error.line, error.field, error.reason)
                ]
            )
        # Lines past the stored ones: one row per reason, the line cell saying how many.
        for reason, count in batch.not_stored_list:
            yield writer.writerow(
                [
                    spreadsheet_safe(cell)
                    for cell in (
                        batch.original_name,
                        f"{count} more lines, not stored",
                        "",
                        reason,
                    )
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-errors.csv"'
    return response


@require_POST
def import_retry(request: HttpRequest, slug: str, batch_id: int) -> HttpResponse:
    batch = get_batch_for_user(request, slug, batch_id, admin=True)
    if job_retry(job=batch, dataset=batch.dataset, action="import.retry", user=request.user):
        flash_queued(request, batch, "Retrying; the import resumes where it stopped.")
    else:
        messages.error(
            request,
            f"Only a failed import can be retried; this one is {batch.get_status_display().lower()}.",
        )
    return redirect(batch)
