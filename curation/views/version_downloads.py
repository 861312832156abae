"""Version downloads: the files (with byte ranges), the zip and the JSON diff.

They also accept a personal access token, so they are exempt from the login middleware and
authenticate through `download_view`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

from curation.models import VERSION_FILES, DatasetVersion
from curation.permissions import get_version_for_user, get_version_pair_for_user
from curation.services.versions.diff import diff_json_chunks
from curation.services.versions.downloads import version_download_record
from curation.services.versions.files import TamperedFileError, checked_file, record_tampered
from curation.storage import ZipSink, download_url, open_stream
from curation.token_auth import download_view

CONTENT_TYPES = {
    "train.jsonl": "application/x-ndjson",
    "validation.jsonl": "application/x-ndjson",
    "manifest.json": "application/json",
}
STREAM_CHUNK = 256 * 1024


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
    version_download_record(
        version=version,
        user=request.user,
        file=file,
        token=getattr(request, "access_token", None),
    )


def _refused(error: TamperedFileError, request: HttpRequest) -> HttpResponse:
    record_tampered(error=error, user=request.user)
    return HttpResponse(f"{error}\n", status=409, content_type="text/plain; charset=utf-8")


@download_view
@require_safe
def version_file(request: HttpRequest, slug: str, number: int, name: str) -> HttpResponseBase:
    version = get_version_for_user(request, slug, number)
    if name not in VERSION_FILES or name not in dict(version.available_files()):
        raise Http404("This file is not available: the version is not built, or was deleted.")
    try:
        info = checked_file(version, name)
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
            response: HttpResponseBase = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            response["Accept-Ranges"] = "bytes"
            return response
    if byte_range is None:
        if request.method == "GET":
            _record_download(request, version, name)
        response = FileResponse(
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


def _zip_chunks(version: DatasetVersion) -> Iterator[bytes]:
    sink = ZipSink()
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
def version_zip(request: HttpRequest, slug: str, number: int) -> HttpResponseBase:
    version = get_version_for_user(request, slug, number)
    if not version.is_built:
        raise Http404("Only a built version can be downloaded.")
    try:
        for name, _ in version.available_files():
            checked_file(version, name)
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


@download_view
@require_safe
def version_diff_json(
    request: HttpRequest, slug: str, number: int, other: int
) -> StreamingHttpResponse:
    old, new = get_version_pair_for_user(request, slug, number, other)
    response = StreamingHttpResponse(diff_json_chunks(old, new), content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="{old.dataset.slug}-v{old.number}-v{new.number}-diff.json"'
    )
    return response
