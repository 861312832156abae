"""Dataset versions: create (with a live preview), follow the build, download, compare, delete.

Downloads (the files, the zip, the JSON diff) also accept a personal access token, so they
are exempt from the login middleware and authenticate through `download_view`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import transaction
from django.forms import modelformset_factory
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from curation.models import (
    FLAG_LABELS,
    SNAPSHOT_FILES,
    AuditEvent,
    Dataset,
    DatasetVersion,
    JobStatus,
    TrainingPrice,
    VersionFormat,
    VersionStatus,
)
from curation.permissions import get_dataset_for_user, is_dataset_admin
from curation.services.versions.diff import diff_json_chunks, diff_page
from curation.services.versions.files import (
    SnapshotError,
    TamperedFileError,
    delete_version,
    record_tampered,
    verify_file,
)
from curation.services.versions.preview import (
    create_version,
    default_seed,
    normalize_filter,
    preview_version,
)
from curation.storage import download_url, open_stream
from curation.views.tokens import download_view

CONTENT_TYPES = {
    "train.jsonl": "application/x-ndjson",
    "validation.jsonl": "application/x-ndjson",
    "manifest.json": "application/json",
}
STREAM_CHUNK = 256 * 1024
DIFF_PAGE_ROWS = 500
# Edited examples shown with their text (each reads two lines from storage).
DIFF_TEXT_ROWS = 50
COMPARED = (VersionStatus.SUCCEEDED, VersionStatus.DELETED)


def get_version_for_user(
    request: HttpRequest, slug: str, number: int, *, admin: bool = False
) -> DatasetVersion:
    """The version of a dataset the user is a member of (404 otherwise)."""
    dataset = get_dataset_for_user(request, slug, admin=admin)
    version = (
        DatasetVersion.objects.select_related("created_by", "deleted_by", "parent")
        .filter(dataset=dataset, number=number)
        .first()
    )
    if version is None:
        raise Http404("No such version.")
    version.dataset = dataset
    return version


# -- forms --------------------------------------------------------------------------------


class VersionForm(forms.Form):
    min_score = forms.FloatField(
        label="Minimum average score",
        required=False,
        min_value=1,
        max_value=5,
        help_text="Leave empty to include approved examples whatever their score (and unscored ones).",
    )
    exclude_flags = forms.MultipleChoiceField(
        label="Leave out examples flagged",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=sorted(FLAG_LABELS.items(), key=lambda item: item[1]),
    )
    batches = forms.MultipleChoiceField(
        label="Only from these imports",
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text="None selected: every import.",
    )
    validation_fraction = forms.FloatField(
        min_value=0,
        max_value=0.99,
        help_text="Share of examples held out for validation; 0 for none.",
    )
    seed = forms.IntegerField(
        help_text="Keep the same seed from version to version so that no example changes split.",
    )
    prepend_system_prompt = forms.BooleanField(
        label="Add the dataset's system prompt to examples that have none",
        required=False,
        initial=True,
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    format = forms.ChoiceField(
        label="Kind",
        choices=VersionFormat.choices,
        required=False,
        initial=VersionFormat.SFT,
        help_text="Supervised: chat examples (a pair's chosen reply). Preference: the approved "
        "chosen/rejected pairs in OpenAI's preference format, for DPO.",
    )

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["batches"].choices = [
            (str(batch.pk), f"{batch.original_name} (#{batch.pk})")
            for batch in dataset.batches.filter(status=JobStatus.SUCCEEDED).only(
                "id", "original_name"
            )[:500]
        ]
        if not dataset.system_prompt:
            del self.fields["prepend_system_prompt"]

    def selection(self) -> dict[str, Any]:
        data = self.cleaned_data
        return normalize_filter(
            min_score=data.get("min_score"),
            exclude_flags=data.get("exclude_flags") or [],
            batches=[int(batch) for batch in data.get("batches") or []],
        )


class PriceForm(forms.ModelForm):
    class Meta:
        model = TrainingPrice
        fields = ["provider", "model", "price_per_million", "token_limit"]


PriceFormSet = modelformset_factory(TrainingPrice, form=PriceForm, extra=1, can_delete=True)


class VersionPairForm(forms.Form):
    """Two built (or deleted) versions of a dataset to compare, older first by default."""

    a = forms.TypedChoiceField(label="From", coerce=int)
    b = forms.TypedChoiceField(label="To", coerce=int)

    def __init__(self, *args: Any, numbers: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(number, f"v{number}") for number in numbers]
        self.fields["a"].choices = self.fields["b"].choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("a") is not None and data.get("a") == data.get("b"):
            raise forms.ValidationError("Pick two different versions.")
        return data


def comparable_numbers(dataset: Dataset) -> list[int]:
    return list(
        dataset.versions.filter(status__in=COMPARED)
        .order_by("number")
        .values_list("number", flat=True)
    )


# -- pages --------------------------------------------------------------------------------


def version_list(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = get_dataset_for_user(request, slug)
    versions = list(dataset.versions.select_related("created_by"))
    numbers = [version.number for version in reversed(versions) if version.status in COMPARED]
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


def version_create(request: HttpRequest, slug: str) -> HttpResponse:
    """The form, its preview (counts, tokens, cost) and, on "Freeze", the new version.

    The preview is a POST too (button `action=preview`, or htmx on every change) so that the
    CSRF token never ends up in a URL; it creates nothing.
    """
    dataset = get_dataset_for_user(request, slug, admin=True)
    initial = {
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
            except SnapshotError as error:
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


def version_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
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
            .filter(status__in=COMPARED)
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
    version.refresh_lost()
    if version.retry():
        AuditEvent.record(
            actor=request.user, action="version.retry", obj=version, dataset=version.dataset
        )
        messages.success(request, "Building again from the start.")
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
    old, new = _diff_pair(request, slug, number, other)
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


def _diff_pair(
    request: HttpRequest, slug: str, number: int, other: int
) -> tuple[DatasetVersion, DatasetVersion]:
    old = get_version_for_user(request, slug, number)
    new = get_version_for_user(request, slug, other)
    if old.status not in COMPARED or new.status not in COMPARED:
        raise Http404("Only built versions can be compared.")
    return old, new


@download_view
@require_safe
def version_diff_json(
    request: HttpRequest, slug: str, number: int, other: int
) -> StreamingHttpResponse:
    old, new = _diff_pair(request, slug, number, other)
    response = StreamingHttpResponse(diff_json_chunks(old, new), content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="{old.dataset.slug}-v{old.number}-v{new.number}-diff.json"'
    )
    return response


# -- prices ------------------------------------------------------------------------------


def price_list(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only site staff can change training prices.")
    queryset = TrainingPrice.objects.seeded()
    formset = PriceFormSet(request.POST or None, queryset=queryset)
    if request.method == "POST" and formset.is_valid():
        with transaction.atomic():
            saved = formset.save(commit=False)
            for price in saved:
                price.updated_by = request.user
                price.save()
            for price in formset.deleted_objects:
                price.delete()
            AuditEvent.record(
                actor=request.user,
                action="price.update",
                changed=[
                    f"{price.provider}/{price.model}: {price.price_per_million}" for price in saved
                ],
                deleted=[f"{price.provider}/{price.model}" for price in formset.deleted_objects],
            )
        messages.success(request, "Prices saved.")
        return redirect("price_list")
    return render(request, "curation/price_list.html", {"formset": formset})


# -- downloads ---------------------------------------------------------------------------


class UnsatisfiableRange(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range; None to serve the whole file.

    Malformed, multi-range and non-byte ranges are ignored (RFC 9110 allows it); a range that
    starts past the end, or a zero-length suffix, is unsatisfiable.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        length = int(last)
        if length == 0 or size == 0:
            raise UnsatisfiableRange
        return max(0, size - length), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise UnsatisfiableRange
    return start, min(int(last) if last else size - 1, size - 1)


def _read_range(name: str, start: int, end: int) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as handle:
        handle.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = handle.read(min(STREAM_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def _record_download(request: HttpRequest, version: DatasetVersion, file: str) -> None:
    """Audit one download of a version's file (or its zip), with the prefix of the
    access token used when a script fetched it with one; both download views share it."""
    AuditEvent.record(
        actor=request.user,
        action="version.download",
        obj=version,
        dataset=version.dataset,
        file=file,
        token=getattr(getattr(request, "access_token", None), "prefix", None),
    )


def _refused(error: TamperedFileError, request: HttpRequest) -> HttpResponse:
    record_tampered(error=error, user=request.user)
    return HttpResponse(f"{error}\n", status=409, content_type="text/plain; charset=utf-8")


@download_view
@require_safe
def version_file(request: HttpRequest, slug: str, number: int, name: str) -> HttpResponse:
    version = get_version_for_user(request, slug, number)
    if name not in SNAPSHOT_FILES or name not in dict(version.available_files()):
        raise Http404("This file is not available: the version is not built, or was deleted.")
    try:
        info = verify_file(version, name)
    except TamperedFileError as error:
        return _refused(error, request)
    except FileNotFoundError:
        raise Http404("No such file.") from None
    size, etag = info["size"], f'"{info["sha256"]}"'
    url = download_url(
        info["name"], filename=version.download_name(name), content_type=CONTENT_TYPES[name]
    )
    if url is not None:
        # Object storage serves the bytes (ranges included) from a short-lived signed URL,
        # once the permission and sha256 checks above have passed.
        if request.method == "GET":
            _record_download(request, version, name)
        redirect_response = HttpResponseRedirect(url)
        redirect_response["X-Content-SHA256"] = info["sha256"]
        redirect_response["Cache-Control"] = "private, no-store"
        return redirect_response
    byte_range = None
    header = request.headers.get("Range")
    if header and request.headers.get("If-Range", etag) == etag:
        try:
            byte_range = parse_range(header, size)
        except UnsatisfiableRange:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            response["Accept-Ranges"] = "bytes"
            return response
    if byte_range is None:
        if request.method == "GET":
            _record_download(request, version, name)
        response: HttpResponse = FileResponse(
            default_storage.open(info["name"], "rb"),
            as_attachment=True,
            filename=version.download_name(name),
            content_type=CONTENT_TYPES[name],
        )
        response["Content-Length"] = str(size)
    else:
        start, end = byte_range
        response = StreamingHttpResponse(
            _read_range(info["name"], start, end), status=206, content_type=CONTENT_TYPES[name]
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
        response["Content-Disposition"] = f'attachment; filename="{version.download_name(name)}"'
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["X-Content-SHA256"] = info["sha256"]
    response["Cache-Control"] = "private, no-transform"
    return response


class _ZipSink(io.RawIOBase):
    """A write-only, unseekable stream that hands zipfile's output over in pieces."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.pending += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self.pending)
        self.pending.clear()
        return data


def _zip_chunks(version: DatasetVersion) -> Iterator[bytes]:
    sink = _ZipSink()
    # Fixed entry times (the build's) so the same version always zips to the same bytes.
    stamp = (version.finished_at or version.created_at).timetuple()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, info in version.available_files():
            entry = zipfile.ZipInfo(version.download_name(name), date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with (
                archive.open(entry, "w", force_zip64=True) as target,
                open_stream(info["name"]) as source,
            ):
                while chunk := source.read(STREAM_CHUNK):
                    target.write(chunk)
                    if len(sink.pending) >= STREAM_CHUNK:
                        yield sink.take()
            yield sink.take()
    yield sink.take()


@download_view
@require_safe
def version_zip(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = get_version_for_user(request, slug, number)
    if not version.is_built:
        raise Http404("Only a built version can be downloaded.")
    try:
        for name, _ in version.available_files():
            verify_file(version, name)
    except TamperedFileError as error:
        return _refused(error, request)
    if request.method == "GET":
        _record_download(request, version, "zip")
    response = StreamingHttpResponse(_zip_chunks(version), content_type="application/zip")
    response["Content-Disposition"] = (
        f'attachment; filename="{version.dataset.slug}-v{version.number}.zip"'
    )
    response["Cache-Control"] = "private, no-transform"
    return response
