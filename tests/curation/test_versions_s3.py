"""Files on S3-compatible storage, against a real S3 API (moto's server on a loopback port,
started here; no network): a worker with its own, empty media directory imports an upload and
builds a version by streaming from the bucket, and downloads redirect to presigned URLs after
the permission and sha256 checks."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings
from django.urls import reverse
from moto.server import ThreadedMotoServer

from curation.checks import check_storage
from curation.models import Conversation, ConversationStatus, DatasetVersion, VersionStatus
from curation.services.imports import create_import_batch
from curation.storage import is_s3, open_stream, parse_storage_url, read_range, storage_settings

PREFIX = "site/a"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def s3(settings, monkeypatch, tmp_path) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    """A moto S3 server with an empty bucket, and this process's default storage on it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    # moto keeps buckets for the whole process: each test gets its own.
    bucket = f"curator-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/{PREFIX}"
    settings.CURATOR_STORAGE = url
    settings.AWS_S3_ENDPOINT_URL = endpoint
    settings.AWS_S3_ADDRESSING_STYLE = "path"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": storage_settings(url, endpoint_url=endpoint),
    }
    try:
        yield {"endpoint": endpoint, "client": client, "url": url, "bucket": bucket}
    finally:
        server.stop()


def keys(s3: dict) -> list[str]:
    listing = s3["client"].list_objects_v2(Bucket=s3["bucket"])
    return sorted(item["Key"] for item in listing.get("Contents", []))


def chat_lines(count: int) -> bytes:
    return b"".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"How do I export report {n}?"},
                    {"role": "assistant", "content": f"Open report {n} and choose Export."},
                ]
            }
        ).encode()
        + b"\n"
        for n in range(count)
    )


def test_storage_url_is_parsed_and_checked():
    assert parse_storage_url("") is None
    location = parse_storage_url("s3://bucket/some/prefix/")
    assert (location.bucket, location.prefix) == ("bucket", "some/prefix")
    assert (
        storage_settings("s3://b", endpoint_url="http://x")["OPTIONS"]["endpoint_url"] == "http://x"
    )
    for bad in ("gs://bucket/x", "s3:///prefix", "bucket/prefix", "s3://u@bucket/x"):
        with override_settings(CURATOR_STORAGE=bad):
            [error] = check_storage()
            assert error.id == "curation.E030" and bad in error.msg
    with override_settings(CURATOR_STORAGE="s3://bucket/prefix"):
        assert check_storage() == []


@pytest.mark.django_db
def test_stored_files_are_streamed_and_read_by_range(s3):
    assert is_s3()
    data = bytes(range(256)) * 8192  # 2 MiB
    name = default_storage.save("checks/blob.bin", ContentFile(data))
    assert keys(s3) == [f"{PREFIX}/checks/blob.bin"]
    with open_stream(name) as stream:
        # Read as it arrives: the first bytes come before the rest is fetched.
        assert stream.read(10) == data[:10]
        assert stream.read() == data[10:]
    assert read_range(name, 1000, 24) == data[1000:1024]
    with pytest.raises(FileNotFoundError):
        open_stream("checks/missing.bin")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_without_shared_disk_imports_builds_and_the_version_downloads(
    s3, dataset, admin_user, reviewer, client_for, run_worker, monkeypatch, tmp_path, settings
):
    worker_media = tmp_path / "worker-media"
    worker_media.mkdir()
    for name, value in {
        "CURATOR_STORAGE": s3["url"],
        "AWS_S3_ENDPOINT_URL": s3["endpoint"],
        "TEST_MEDIA_ROOT": str(worker_media),
    }.items():
        monkeypatch.setenv(name, value)
    # The upload goes to the bucket; the worker finds it there.
    batch = create_import_batch(
        dataset=dataset,
        uploaded=ContentFile(chat_lines(40), name="chats.jsonl"),
        original_name="chats.jsonl",
        fmt="auto",
        user=admin_user,
    )
    assert keys(s3) == [f"{PREFIX}/{batch.file.name}"]
    run_worker("default")
    batch.refresh_from_db()
    assert batch.status == "succeeded", batch.error
    assert dataset.conversations.count() == 40
    Conversation.objects.filter(dataset=dataset).update(status=ConversationStatus.APPROVED)

    admin = client_for(admin_user)
    response = admin.post(
        reverse("version_create", args=[dataset.slug]),
        {"validation_fraction": "0.2", "seed": "0"},
    )
    assert response.status_code == 302
    run_worker("default")
    version = DatasetVersion.objects.get(dataset=dataset)
    assert version.status == VersionStatus.SUCCEEDED, version.error
    stored = keys(s3)
    for name in ("train.jsonl", "validation.jsonl", "manifest.json"):
        assert f"{PREFIX}/{version.files[name]['name']}" in stored
    # Nothing went through a disk the web machine and the worker would have to share.
    assert list(worker_media.rglob("*")) == []
    local = Path(settings.MEDIA_ROOT)
    assert not (local / batch.file.name).exists()
    assert not any((local / info["name"]).exists() for info in version.files.values())

    client = client_for(reviewer)
    url = reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(s3["endpoint"]) and "Signature" in response["Location"]
    assert response["X-Content-SHA256"] == version.files["train.jsonl"]["sha256"]
    with urllib.request.urlopen(response["Location"]) as remote:  # noqa: S310 (loopback moto)
        body = remote.read()
    assert hashlib.sha256(body).hexdigest() == version.files["train.jsonl"]["sha256"]
    assert len(body.splitlines()) == version.train_examples
    zipped = client.get(reverse("version_zip", args=[dataset.slug, version.number]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content)))
    assert archive.testzip() is None and len(archive.namelist()) == 3
    # Permission first: an outsider never gets a signed URL.
    client_for(None)
    assert client.get(url).status_code == 302 and "login" in client.get(url)["Location"]
    # The sha256 check stays: a changed object is refused, not signed.
    s3["client"].put_object(
        Bucket=s3["bucket"],
        Key=f"{PREFIX}/{version.files['train.jsonl']['name']}",
        Body=b"changed\n",
    )
    refused = client_for(reviewer).get(url)
    assert refused.status_code == 409 and b"does not match its recorded sha256" in refused.content
