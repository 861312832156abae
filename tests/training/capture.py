"""Requests the real vendor SDKs send, captured at the transports of httpx (together,
fireworks-ai) and httpx2 (openai): nothing leaves the machine, and each request can be
answered from a fixture (tests/data/vendors)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import httpx2

VENDORS = Path(__file__).resolve().parent.parent / "data" / "vendors"
# (status, body) for a request; None answers 404.
Responder = Callable[[Any], "tuple[int, Any] | None"]


def vendor_fixture(name: str) -> Any:
    """A vendor's published example (its source is under "_source"; that key is removed)."""
    data = json.loads((VENDORS / name).read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data.pop("_source", None)
    return data


class Captured:
    def __init__(self, responder: Responder) -> None:
        self.requests: list[Any] = []
        self.responder = responder

    def handle(self, request: Any) -> Any:
        self.requests.append(request)
        answer = self.responder(request)
        status, body = answer if answer is not None else (404, {"error": "not found"})
        library = httpx2 if isinstance(request, httpx2.Request) else httpx
        if isinstance(body, bytes):
            # A download: the archive's bytes under the name it is served as.
            headers = {
                "content-type": "application/octet-stream",
                "content-disposition": 'attachment; filename="download.tar.zst"',
            }
            return library.Response(status, headers=headers, content=body)
        return library.Response(
            status, headers={"content-type": "application/json"}, content=json.dumps(body)
        )

    def bodies(self, method: str, path_end: str) -> list[Any]:
        return [
            json.loads(r.content or b"null")
            for r in self.requests
            if r.method == method and r.url.path.endswith(path_end)
        ]


def capture(monkeypatch: Any, responder: Responder) -> Captured:
    captured = Captured(responder)
    for transport in (httpx.HTTPTransport, httpx2.HTTPTransport):
        monkeypatch.setattr(
            transport, "handle_request", lambda _self, request: captured.handle(request)
        )
    return captured
