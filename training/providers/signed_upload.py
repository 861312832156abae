"""PUT a file to a signed URL a provider handed out (Fireworks' getUploadEndpoint): the URL
carries its own authorisation, so the request carries the file and never an API key."""

from __future__ import annotations

from pathlib import Path

import httpx

from training.providers.base import PermanentProviderError, TransientProviderError


def put_signed(
    url: str,
    path: Path,
    *,
    label: str,
    timeout: float,
    allow_http: bool = False,
    headers: dict[str, str] | None = None,
) -> None:
    """Upload ``path`` to ``url``; a 5xx, 408, 429 or a broken connection is transient (a
    retry may pass), any other refusal permanent. Only https, unless ``allow_http`` (the
    simulator on loopback)."""
    if httpx.URL(url).scheme != "https" and not allow_http:
        raise PermanentProviderError(
            f"{label}: refusing to upload {path.name} to a non-https URL",
            code="upload_endpoint",
        )
    try:
        with httpx.Client(timeout=timeout) as http, path.open("rb") as handle:
            put = http.put(
                url,
                content=handle,
                headers={"Content-Type": "application/octet-stream", **(headers or {})},
            )
    except httpx.HTTPError as error:
        raise TransientProviderError(
            f"{label}: uploading {path.name} to its signed URL failed ({error})",
            code="connection_error",
        ) from None
    if put.status_code >= 500 or put.status_code in (408, 429):
        raise TransientProviderError(
            f"{label}: the signed upload of {path.name} answered HTTP {put.status_code}",
            code="server_error",
            status_code=put.status_code,
        )
    if put.status_code >= 400:
        raise PermanentProviderError(
            f"{label}: the signed upload of {path.name} was refused "
            f"(HTTP {put.status_code}: {put.text[:200]})",
            code="upload_refused",
            status_code=put.status_code,
        )
