"""Downloads check a version file's size every time but re-read it for its sha256 at most
once per CURATOR_DOWNLOAD_VERIFY_SECONDS: a 1-byte range does not cost a read of the file."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.urls import reverse

from tests.factories import built_version

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_remembered_checks():  # type: ignore[no-untyped-def]
    cache.clear()
    yield
    cache.clear()


def flip_first_byte(version) -> None:  # type: ignore[no-untyped-def]
    """Same size, different bytes: only a sha256 check can see it."""
    path = default_storage.path(version.files["train.jsonl"]["name"])
    with open(path, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(b"[" if first != b"[" else b"{")


def test_range_downloads_within_the_interval_do_not_reread_the_file(
    dataset, reviewer, client_for, settings
):
    settings.CURATOR_DOWNLOAD_VERIFY_SECONDS = 3600
    version = built_version(dataset)
    url = reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"])
    client = client_for(reviewer)
    assert client.get(url, HTTP_RANGE="bytes=0-0").status_code == 206
    flip_first_byte(version)
    # Verified a moment ago: the next range is served without hashing the whole file again.
    assert client.get(url, HTTP_RANGE="bytes=1-1").status_code == 206


def test_with_no_interval_every_download_rereads_and_refuses_a_changed_file(
    dataset, reviewer, client_for, settings
):
    settings.CURATOR_DOWNLOAD_VERIFY_SECONDS = 0
    version = built_version(dataset)
    url = reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"])
    client = client_for(reviewer)
    assert client.get(url, HTTP_RANGE="bytes=0-0").status_code == 206
    flip_first_byte(version)
    assert client.get(url, HTTP_RANGE="bytes=1-1").status_code == 409


def test_a_file_whose_size_changed_is_refused_at_once_within_the_interval(
    dataset, reviewer, client_for, settings
):
    settings.CURATOR_DOWNLOAD_VERIFY_SECONDS = 3600
    version = built_version(dataset)
    url = reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"])
    client = client_for(reviewer)
    assert client.get(url, HTTP_RANGE="bytes=0-0").status_code == 206
    with open(default_storage.path(version.files["train.jsonl"]["name"]), "ab") as handle:
        handle.write(b"{}\n")
    response = client.get(url, HTTP_RANGE="bytes=0-0")
    assert response.status_code == 409 and b"recorded sha256" in response.content
