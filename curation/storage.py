"""The one wrapper around file storage: local disk by default, S3-compatible when configured.

Every file the app keeps (uploads, version files, adapters, evaluation outputs) goes through
Django's storage API. `CURATOR_STORAGE=s3://bucket/prefix` switches the default storage to
django-storages' S3 backend (endpoint and credentials from the standard AWS_* variables); see
`storage_settings`. Readers use the helpers below rather than `.path` so that a worker with no
shared disk can read what the web machine stored:

- `open_stream(name)`: a forward-only binary stream, read as it arrives — never the whole
  object downloaded first (django-storages' own S3 file does that).
- `read_range(name, start, length)`: a few bytes from the middle (one example of a version).
- `download_url(name, ...)`: a short-lived presigned URL for a large download, or None when
  the storage serves files itself.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

from django.core.files.storage import Storage, default_storage
from django.utils.functional import LazyObject, empty
from storages.utils import clean_name

S3_BACKEND = "storages.backends.s3.S3Storage"
STREAM_BUFFER = 1024 * 1024


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str


def parse_storage_url(value: str) -> S3Location | None:
    """`s3://bucket/prefix` → its parts; "" → None (local disk). ValueError names the fault."""
    value = value.strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme != "s3":
        raise ValueError(f"{value!r} is not an s3://bucket/prefix URL")
    if not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{value!r} has no bucket name (expected s3://bucket/prefix)")
    return S3Location(bucket=parts.netloc, prefix=parts.path.strip("/"))


def storage_settings(value: str, *, endpoint_url: str = "") -> dict[str, Any] | None:
    """The STORAGES["default"] entry for CURATOR_STORAGE, or None to keep local disk."""
    location = parse_storage_url(value)
    if location is None:
        return None
    options: dict[str, Any] = {
        "bucket_name": location.bucket,
        "location": location.prefix,
        # Names are fixed by the code (a retry overwrites what a killed attempt left).
        "file_overwrite": True,
        "default_acl": None,
        "querystring_auth": True,
    }
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    return {"BACKEND": S3_BACKEND, "OPTIONS": options}


def _target(storage: Storage) -> Any:
    """The storage itself, behind Django's lazy `default_storage`."""
    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage


def is_s3(storage: Storage | None = None) -> bool:
    # Duck-typed, so that checking costs no import of boto3 on a site without S3.
    target = _target(storage or default_storage)
    return hasattr(target, "bucket_name") and hasattr(target, "connection")


def _object(storage: Storage, name: str) -> Any:
    s3 = _target(storage)
    return s3.bucket.Object(s3._normalize_name(clean_name(name)))


class _BodyReader(io.RawIOBase):
    """A raw stream over an S3 response body, read as it arrives."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.body.close()
        super().close()


def open_stream(name: str, *, storage: Storage | None = None) -> IO[bytes]:
    """A buffered, forward-only binary stream of a stored file; FileNotFoundError if absent."""
    storage = storage or default_storage
    if is_s3(storage):
        try:
            response = _object(storage, name).get()
        except _target(storage).connection.meta.client.exceptions.NoSuchKey:
            raise FileNotFoundError(name) from None
        return io.BufferedReader(_BodyReader(response["Body"]), STREAM_BUFFER)
    if not storage.exists(name):
        raise FileNotFoundError(name)
    return storage.open(name, "rb")


def read_range(name: str, start: int, length: int, *, storage: Storage | None = None) -> bytes:
    """`length` bytes of a stored file from byte `start` (fewer at the end of the file)."""
    if length <= 0:
        return b""
    storage = storage or default_storage
    if is_s3(storage):
        response = _object(storage, name).get(Range=f"bytes={start}-{start + length - 1}")
        return response["Body"].read()
    with storage.open(name, "rb") as handle:
        handle.seek(start)
        return handle.read(length)


def download_url(
    name: str, *, filename: str, content_type: str, storage: Storage | None = None
) -> str | None:
    """A presigned URL that serves the file as an attachment, or None on local disk."""
    storage = storage or default_storage
    if not is_s3(storage):
        return None
    # S3Storage.url takes the presigning parameters; Django's Storage.url does not.
    return _target(storage).url(
        name,
        parameters={
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
            "ResponseContentType": content_type,
        },
    )


class ZipSink(io.RawIOBase):
    """A write-only, unseekable stream that hands zipfile's output over in pieces, so a zip
    of stored files streams to the client without being assembled in memory or on disk."""

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
