"""Fireworks datasets: files up to 150 MB go to ``:upload``; larger ones by signed URL
(getUploadEndpoint, PUT without the API key, validateUpload), as fireworks-ai documents; a
trained model comes back from the signed URLs of getDownloadEndpoint.
Captured below the real fireworks-ai SDK: no simulator, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from tests.factories import FineTuneJobFactory
from tests.training.capture import Captured, capture
from training.providers.base import RemoteJob
from training.providers.fireworks_provider import DIRECT_UPLOAD_BYTES, FireworksProvider
from training.services.remote_artifacts import store_remote_adapter

SIGNED = "https://storage.googleapis.com/fireworks-datasets/acme/train.jsonl?X-Goog-Signature=abc"


def fireworks_api(request: Any) -> tuple[int, Any] | None:
    path = request.url.path
    if request.url.host == "storage.googleapis.com" and request.method == "PUT":
        return 200, {}
    if request.method == "POST" and path.endswith("/datasets"):
        return 200, {"name": "accounts/acme/datasets/x", "state": "UPLOADING"}
    if request.method == "GET" and "/datasets/" in path:
        return 200, {"name": path.removeprefix("/v1/"), "state": "UPLOADING"}
    if path.endswith(":getUploadEndpoint"):
        name = json.loads(request.content)["filenameToSize"]
        return 200, {"filenameToSignedUrls": dict.fromkeys(name, SIGNED)}
    if path.endswith(":validateUpload") or path.endswith(":upload"):
        return 200, {}
    return None


@pytest.fixture
def fireworks(monkeypatch: Any) -> tuple[FireworksProvider, Captured]:
    captured = capture(monkeypatch, fireworks_api)
    return FireworksProvider(api_key="fw-fake-key", account_id="acme"), captured


def test_a_file_over_150_mb_goes_by_signed_url_without_the_key(
    fireworks: tuple[FireworksProvider, Captured], tmp_path: Path
) -> None:
    provider, captured = fireworks
    path = tmp_path / "train.jsonl"
    line = json.dumps({"messages": [{"role": "user", "content": "x" * 1024}]}).encode() + b"\n"
    with path.open("wb") as sink:
        for _ in range(DIRECT_UPLOAD_BYTES // len(line) + 2):
            sink.write(line)
    size = path.stat().st_size
    assert size > 150 * 1024**2

    provider.upload_file(path)

    def first(test: Any) -> int:
        return next(i for i, r in enumerate(captured.requests) if test(r))

    at_endpoint = first(lambda r: r.url.path.endswith(":getUploadEndpoint"))
    at_put = first(lambda r: r.method == "PUT")
    at_validate = first(lambda r: r.url.path.endswith(":validateUpload"))
    assert at_endpoint < at_put < at_validate
    endpoint, put, validate = (
        captured.requests[at_endpoint],
        captured.requests[at_put],
        captured.requests[at_validate],
    )
    assert str(put.url) == SIGNED
    assert endpoint.url.path.endswith(":getUploadEndpoint")
    assert json.loads(endpoint.content) == {"filenameToSize": {"train.jsonl": str(size)}}
    assert "authorization" not in put.headers
    assert put.headers["x-goog-content-length-range"] == f"{size},{size}"
    assert put.headers["content-type"] == "application/octet-stream"
    assert validate.url.path.endswith(":validateUpload")
    assert not any(r.url.path.endswith(":upload") for r in captured.requests)


def test_a_small_file_goes_to_upload_directly(
    fireworks: tuple[FireworksProvider, Captured], tmp_path: Path
) -> None:
    provider, captured = fireworks
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")

    provider.upload_file(path)

    assert any(r.url.path.endswith(":upload") for r in captured.requests)
    assert not any(r.url.path.endswith(":getUploadEndpoint") for r in captured.requests)


CONFIG_URL = "https://storage.googleapis.com/fireworks-models/acme/adapter_config.json?sig=1"
WEIGHTS_URL = "https://storage.googleapis.com/fireworks-models/acme/adapter_model.bin?sig=2"


def fireworks_models(request: Any) -> tuple[int, Any] | None:
    if request.url.path.endswith(":getDownloadEndpoint"):
        return 200, {
            "filenameToSignedUrls": {
                "adapter_config.json": CONFIG_URL,
                "adapter_model.bin": WEIGHTS_URL,
            }
        }
    if str(request.url) == CONFIG_URL:
        return 200, json.dumps({"r": 8, "peft_type": "LORA"}).encode()
    if str(request.url) == WEIGHTS_URL:
        return 200, b"\x00" * 64
    return None


@pytest.mark.django_db
def test_a_fireworks_model_is_downloaded_from_its_signed_urls_into_storage(
    monkeypatch: Any,
) -> None:
    captured = capture(monkeypatch, fireworks_models)
    provider = FireworksProvider(api_key="fw-fake-key", account_id="acme")
    job = FineTuneJobFactory(provider="fireworks", provider_kind="fireworks")
    remote = RemoteJob(
        id="supervisedFineTuningJobs/curator-1",
        status="succeeded",
        model="accounts/fireworks/models/llama-v3p1-8b-instruct",
        training_file="accounts/acme/datasets/d",
        created_at=0,
        fine_tuned_model="accounts/acme/models/curator-1",
    )

    store_remote_adapter(job=job, provider=provider, remote=remote)

    prefix = job.artifacts["adapter"]
    assert json.loads(default_storage.open(f"{prefix}/adapter_config.json").read()) == {
        "r": 8,
        "peft_type": "LORA",
    }
    signed = [r for r in captured.requests if r.url.host == "storage.googleapis.com"]
    assert len(signed) == 2
    assert all("authorization" not in r.headers for r in signed)
    endpoint = captured.requests[0]
    assert endpoint.url.path == "/v1/accounts/acme/models/curator-1:getDownloadEndpoint"
