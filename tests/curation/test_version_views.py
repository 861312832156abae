"""Version pages and downloads: who may see what, bearer tokens, Range requests, refusals."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from django.core.files.storage import InMemoryStorage, default_storage
from django.urls import reverse

from curation.models import (
    AccessToken,
    AuditEvent,
    ConversationStatus,
    DatasetVersion,
    TrainingPrice,
    VersionStatus,
)
from curation.services.versions.build import run_build_job
from curation.services.versions.preview import create_version, normalize_filter
from tests.factories import ConversationFactory, UserFactory
from tests.helpers import ALL, as_user, assert_admin_actions, assert_page_access

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(dataset):  # type: ignore[no-untyped-def]
    ConversationFactory.create_batch(30, dataset=dataset, status=ConversationStatus.APPROVED)
    return build(dataset)


def build(dataset, **options) -> DatasetVersion:  # type: ignore[no-untyped-def]
    created = create_version(
        dataset=dataset,
        user=None,
        filter=normalize_filter(),
        enqueue=False,
        validation_fraction=0.3,
        **options,
    )
    run_build_job(version_id=created.pk)
    built = DatasetVersion.objects.select_related("dataset").get(pk=created.pk)
    assert built.status == VersionStatus.SUCCEEDED, built.error
    return built


def stored(version: DatasetVersion, name: str) -> bytes:
    with default_storage.open(version.files[name]["name"], "rb") as handle:
        return handle.read()


def body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content) if response.streaming else response.content


def page_urls(dataset, version):  # type: ignore[no-untyped-def]
    second = build(dataset)
    return {
        "version_list": (reverse("version_list", args=[dataset.slug]), {"admin", "reviewer"}),
        "version_create": (reverse("version_create", args=[dataset.slug]), {"admin"}),
        "version_detail": (
            reverse("version_detail", args=[dataset.slug, version.number]),
            {"admin", "reviewer"},
        ),
        "version_datasheet": (
            reverse("version_datasheet", args=[dataset.slug, version.number]),
            {"admin", "reviewer"},
        ),
        "version_diff": (
            reverse("version_diff", args=[dataset.slug, version.number, second.number]),
            {"admin", "reviewer"},
        ),
        "version_compare": (reverse("version_compare", args=[dataset.slug]), {"admin", "reviewer"}),
    }


def download_urls(dataset, version):  # type: ignore[no-untyped-def]
    urls = {
        name: reverse("version_file", args=[dataset.slug, version.number, name])
        for name in ("train.jsonl", "validation.jsonl", "manifest.json")
    }
    urls["zip"] = reverse("version_zip", args=[dataset.slug, version.number])
    urls["diff_json"] = reverse(
        "version_diff_json", args=[dataset.slug, version.number, version.number]
    )
    return urls


@pytest.mark.parametrize("who", ALL)
def test_version_pages_permissions(
    request, who, dataset, version, admin_user, reviewer, outsider, client_for
):
    client = client_for(as_user(request, who))
    assert_page_access(client, who, page_urls(dataset, version))


@pytest.mark.parametrize("who", ALL)
def test_downloads_permissions(
    request, who, dataset, version, admin_user, reviewer, outsider, client_for
):
    client = client_for(as_user(request, who))
    for name, url in download_urls(dataset, version).items():
        response = client.get(url)
        expected = {"admin": 200, "reviewer": 200, "outsider": 404, "anonymous": 302}[who]
        assert response.status_code == expected, name
        if who == "anonymous":
            assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("who", ALL)
def test_version_actions_permissions(
    request, who, dataset, version, admin_user, reviewer, outsider, client_for, monkeypatch
):
    monkeypatch.setattr(DatasetVersion, "enqueue", lambda self: None)
    client = client_for(as_user(request, who))
    actions = {
        "version_create": (
            reverse("version_create", args=[dataset.slug]),
            {"validation_fraction": "0.1", "seed": "0"},
        ),
        "version_retry": (reverse("version_retry", args=[dataset.slug, version.number]), {}),
        "version_delete": (reverse("version_delete", args=[dataset.slug, version.number]), {}),
    }
    assert_admin_actions(client, who, actions)
    version.refresh_from_db()
    assert (version.status == VersionStatus.DELETED) == (who == "admin")


def test_downloads_serve_the_recorded_bytes(dataset, version, reviewer, client_for):
    client = client_for(reviewer)
    for name in ("train.jsonl", "validation.jsonl", "manifest.json"):
        response = client.get(reverse("version_file", args=[dataset.slug, version.number, name]))
        data = body(response)
        assert (
            hashlib.sha256(data).hexdigest()
            == version.files[name]["sha256"]
            == response["X-Content-SHA256"]
        )
        assert response["Content-Length"] == str(len(data)) and response["Accept-Ranges"] == "bytes"
        assert f'filename="support-v1-{name}"' in response["Content-Disposition"]
    response = client.get(reverse("version_zip", args=[dataset.slug, version.number]))
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [
        "support-v1-manifest.json",
        "support-v1-train.jsonl",
        "support-v1-validation.jsonl",
    ]
    for name in ("train.jsonl", "validation.jsonl", "manifest.json"):
        assert (
            hashlib.sha256(archive.read(f"support-v1-{name}")).hexdigest()
            == version.files[name]["sha256"]
        )
    again = client.get(reverse("version_zip", args=[dataset.slug, version.number]))
    assert body(again) == body(
        client.get(reverse("version_zip", args=[dataset.slug, version.number]))
    )
    assert AuditEvent.objects.filter(action="version.download", actor=reviewer).count() >= 4


# -- Range requests ---------------------------------------------------------------------


def test_range_requests(dataset, version, reviewer, client_for):
    client = client_for(reviewer)
    url = reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"])
    data = stored(version, "train.jsonl")
    size = len(data)
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=10-": (10, size - 1),
        "bytes=-25": (size - 25, size - 1),
        f"bytes=5-{size + 100}": (5, size - 1),
        f"bytes={size - 1}-{size - 1}": (size - 1, size - 1),
    }
    for header, (first, last) in cases.items():
        response = client.get(url, HTTP_RANGE=header)
        assert response.status_code == 206, header
        assert response["Content-Range"] == f"bytes {first}-{last}/{size}", header
        assert body(response) == data[first : last + 1], header
        assert response["Content-Length"] == str(last - first + 1)
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        response = client.get(url, HTTP_RANGE=header)
        assert response.status_code == 416, header
        assert response["Content-Range"] == f"bytes */{size}"
    # Ranges we do not serve fall back to the whole file (RFC 9110 lets a server ignore them).
    for header in ("bytes=0-1,5-6", "items=0-1", "bytes=9-3", "bytes=abc"):
        response = client.get(url, HTTP_RANGE=header)
        assert response.status_code == 200 and body(response) == data, header
    # If-Range with another entity tag: the whole (current) file.
    stale = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"0000"')
    assert stale.status_code == 200 and body(stale) == data
    fresh = client.get(
        url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=f'"{version.files["train.jsonl"]["sha256"]}"'
    )
    assert fresh.status_code == 206 and body(fresh) == data[:10]


# -- tampering -------------------------------------------------------------------------


def test_a_tampered_file_is_refused_and_audited(dataset, version, reviewer, client_for):
    path = default_storage.path(version.files["train.jsonl"]["name"])
    with open(path, "ab") as handle:
        handle.write(b'{"messages":[{"role":"user","content":"injected"}]}\n')
    client = client_for(reviewer)
    response = client.get(
        reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"])
    )
    assert response.status_code == 409
    assert b"does not match its recorded sha256" in response.content
    assert (
        client.get(reverse("version_zip", args=[dataset.slug, version.number])).status_code == 409
    )
    ranged = client.get(
        reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"]),
        HTTP_RANGE="bytes=0-5",
    )
    assert ranged.status_code == 409
    event = AuditEvent.objects.filter(action="version.file_mismatch", actor=reviewer).first()
    assert event is not None and event.details["file"] == "train.jsonl"
    assert (
        event.details["expected"]
        == version.files["train.jsonl"]["sha256"]
        != event.details["actual"]
    )
    # The untouched files are still served.
    assert (
        client.get(
            reverse("version_file", args=[dataset.slug, version.number, "validation.jsonl"])
        ).status_code
        == 200
    )


def test_a_missing_file_is_refused(dataset, version, reviewer, client_for):
    default_storage.delete(version.files["validation.jsonl"]["name"])
    response = client_for(reviewer).get(
        reverse("version_file", args=[dataset.slug, version.number, "validation.jsonl"])
    )
    assert response.status_code == 409 and b"the file is missing" in response.content


# -- bearer tokens --------------------------------------------------------------------------


def test_bearer_token_downloads_without_a_session(dataset, version, reviewer, outsider, client):
    token, secret = AccessToken.issue(user=reviewer, name="script")
    url = reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"])
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200 and body(response) == stored(version, "train.jsonl")
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert AuditEvent.objects.filter(
        action="version.download", actor=reviewer, details__token=token.prefix
    ).exists()
    for name, other in download_urls(dataset, version).items():
        assert client.get(other, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200, name
    ranged = client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_RANGE="bytes=0-3")
    assert ranged.status_code == 206
    # Tokens are for downloads only: pages still need a session.
    page = client.get(
        reverse("version_detail", args=[dataset.slug, version.number]),
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert page.status_code == 302

    _, outsider_secret = AccessToken.issue(user=outsider, name="theirs")
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {outsider_secret}").status_code == 404


@pytest.mark.parametrize(
    "header",
    [
        "Bearer cur_not-a-real-token",
        "Bearer nonsense",
        "Bearer ",
    ],
)
def test_bad_credentials_get_401(dataset, version, reviewer, client, header):
    url = reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"])
    response = client.get(url, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_and_inactive_user_get_401(dataset, version, reviewer, client):
    token, secret = AccessToken.issue(user=reviewer, name="old")
    url = reverse("version_zip", args=[dataset.slug, version.number])
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    token.revoke()
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    _, other = AccessToken.issue(user=reviewer, name="new")
    reviewer.is_active = False
    reviewer.save()
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 401


def test_a_member_removed_from_the_dataset_loses_token_access(dataset, version, reviewer, client):
    _, secret = AccessToken.issue(user=reviewer, name="script")
    url = reverse("version_file", args=[dataset.slug, version.number, "manifest.json"])
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    dataset.memberships.filter(user=reviewer).delete()
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 404


# -- pages --------------------------------------------------------------------------------


def test_create_page_previews_without_creating_and_creates_on_post(
    dataset, admin_user, client_for, monkeypatch
):
    queued = []
    monkeypatch.setattr(DatasetVersion, "enqueue", lambda self: queued.append(self.pk))
    ConversationFactory.create_batch(
        12, dataset=dataset, status=ConversationStatus.APPROVED, token_count=100, score_avg=4.0
    )
    ConversationFactory.create_batch(
        3, dataset=dataset, status=ConversationStatus.APPROVED, token_count=100, score_avg=2.0
    )
    client = client_for(admin_user)
    url = reverse("version_create", args=[dataset.slug])
    first = client.get(url)
    assert first.status_code == 200 and b"Freeze as version 1" in first.content
    assert first.context["preview"].examples == 15
    choices = {"min_score": "3", "validation_fraction": "0", "seed": "0"}
    preview = client.post(url, {**choices, "action": "preview"})
    assert preview.status_code == 200 and preview.context["preview"].examples == 12
    assert b'id="preview"' in preview.content and b"<form" in preview.content
    fragment = client.post(
        url, {**choices, "action": "preview", "fragment": "preview"}, HTTP_HX_REQUEST="true"
    )
    assert b"<dt>Examples</dt><dd>12</dd>" in fragment.content and b"<form" not in fragment.content
    assert b"gpt-4.1-mini-2025-04-14" in fragment.content and b"target" in fragment.content
    assert not DatasetVersion.objects.exists()
    bad = client.post(url, {"validation_fraction": "1.5", "seed": "0", "action": "preview"})
    assert (
        bad.status_code == 200
        and bad.context["preview"] is None
        and b"less than or equal to 0.99" in bad.content
    )
    response = client.post(
        url,
        {"min_score": "3", "validation_fraction": "0.25", "seed": "9", "notes": "only good ones"},
    )
    version = DatasetVersion.objects.get(dataset=dataset)
    assert response.status_code == 302 and response["Location"] == version.get_absolute_url()
    assert (version.number, version.seed, version.validation_fraction, version.notes) == (
        1,
        9,
        0.25,
        "only good ones",
    )
    assert version.filter["min_score"] == 3.0 and queued == [version.pk]
    assert version.created_by == admin_user
    empty = client.post(url, {"min_score": "5", "validation_fraction": "0.1", "seed": "0"})
    assert empty.status_code == 200 and b"no approved example" in empty.content
    assert DatasetVersion.objects.count() == 1


def test_detail_page_shows_progress_then_files(dataset, admin_user, client_for, monkeypatch):
    monkeypatch.setattr(DatasetVersion, "enqueue", lambda self: None)
    ConversationFactory.create_batch(5, dataset=dataset, status=ConversationStatus.APPROVED)
    queued = create_version(dataset=dataset, user=admin_user, filter=normalize_filter())
    client = client_for(admin_user)
    url = reverse("version_detail", args=[dataset.slug, queued.number])
    waiting = client.get(url, {"fragment": "progress"}, HTTP_HX_REQUEST="true")
    assert b"Queued" in waiting.content and b"every 2s" in waiting.content
    run_build_job(version_id=queued.pk)
    done = client.get(url)
    assert b"train.jsonl" in done.content and b"Download all (zip)" in done.content
    queued.refresh_from_db()
    assert queued.files["train.jsonl"]["sha256"].encode() in done.content


def test_datasheet_and_diff_pages(dataset, version, reviewer, client_for):
    ConversationFactory.create_batch(2, dataset=dataset, status=ConversationStatus.APPROVED)
    second = build(dataset)
    client = client_for(reviewer)
    sheet = client.get(reverse("version_datasheet", args=[dataset.slug, second.number]))
    assert sheet.status_code == 200 and b"Tokens per example" in sheet.content
    detail = client.get(reverse("version_detail", args=[dataset.slug, second.number]))
    assert reverse("version_diff", args=[dataset.slug, 1, 2]).encode() in detail.content
    diff = client.get(reverse("version_diff", args=[dataset.slug, 1, 2]))
    assert diff.context["counts"]["added"] == 2 and diff.context["counts"]["unchanged"] == 30
    data = client.get(reverse("version_diff_json", args=[dataset.slug, 1, 2]))
    import json

    document = json.loads(body(data))
    assert document["counts"]["added"] == 2 and len(document["added"]) == 2
    assert document["removed"] == [] and document["edited"] == [] == document["moved"]
    assert {entry["id"] for entry in document["added"]} == set(
        second.members.values_list("conversation_id", flat=True)
    ) - set(version.members.values_list("conversation_id", flat=True))


def test_deleted_version_serves_only_its_manifest(dataset, version, admin_user, client_for):
    client = client_for(admin_user)
    assert (
        client.post(reverse("version_delete", args=[dataset.slug, version.number])).status_code
        == 302
    )
    assert (
        client.get(
            reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"])
        ).status_code
        == 404
    )
    assert (
        client.get(reverse("version_zip", args=[dataset.slug, version.number])).status_code == 404
    )
    manifest = client.get(
        reverse("version_file", args=[dataset.slug, version.number, "manifest.json"])
    )
    assert manifest.status_code == 200 and b'"examples"' in body(manifest)
    page = client.get(reverse("version_detail", args=[dataset.slug, version.number]))
    assert b"The data files are gone" in page.content and b"Delete the files" not in page.content


# -- prices --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [*ALL, "staff"])
def test_price_page_is_for_staff_only(
    request, who, dataset, admin_user, reviewer, outsider, client_for
):
    user = (
        UserFactory(username="staffer", is_staff=True) if who == "staff" else as_user(request, who)
    )
    response = client_for(user).get(reverse("price_list"))
    expected = {"staff": 200, "anonymous": 302}.get(who, 403)
    assert response.status_code == expected


def test_staff_edit_prices_and_it_is_audited(db, client_for):
    staff = UserFactory(username="staffer", is_staff=True)
    client = client_for(staff)
    page = client.get(reverse("price_list"))
    prices = list(TrainingPrice.objects.all())
    assert len(prices) >= 3
    formset = page.context["formset"]
    data = {
        "form-TOTAL_FORMS": str(len(prices) + 1),
        "form-INITIAL_FORMS": str(len(prices)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
    }
    for index, form in enumerate(formset.forms[: len(prices)]):
        price = form.instance
        data.update(
            {
                f"form-{index}-id": str(price.pk),
                f"form-{index}-provider": price.provider,
                f"form-{index}-model": price.model,
                f"form-{index}-method": price.method,
                f"form-{index}-training_type": price.training_type,
                f"form-{index}-price_per_million": "7.5"
                if index == 0
                else str(price.price_per_million),
                f"form-{index}-token_limit": str(price.token_limit),
            }
        )
    data[f"form-{len(prices)}-provider"] = "local"
    data[f"form-{len(prices)}-model"] = "llama-lora"
    data[f"form-{len(prices)}-method"] = "supervised"
    data[f"form-{len(prices)}-training_type"] = "lora"
    data[f"form-{len(prices)}-price_per_million"] = "0"
    data[f"form-{len(prices)}-token_limit"] = "8192"
    response = client.post(reverse("price_list"), data)
    assert response.status_code == 302, (
        response.context["formset"].errors if response.context else ""
    )
    changed = TrainingPrice.objects.get(pk=formset.forms[0].instance.pk)
    assert str(changed.price_per_million) == "7.5000" and changed.updated_by == staff
    assert TrainingPrice.objects.filter(
        provider="local", model="llama-lora", token_limit=8192
    ).exists()
    assert AuditEvent.objects.filter(action="price.update", actor=staff).exists()
    assert (
        client_for(UserFactory(username="plain")).post(reverse("price_list"), data).status_code
        == 403
    )


def test_works_through_the_storage_api_only(dataset, reviewer, client_for, settings, monkeypatch):
    """As on S3: files live in the storage, never on a local path the code opens itself."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    from pathlib import Path

    from curation.services.versions.files import cli_summary, delete_version

    ConversationFactory.create_batch(12, dataset=dataset, status=ConversationStatus.APPROVED)
    version = build(dataset)
    assert isinstance(default_storage._wrapped, InMemoryStorage)
    assert not (Path(settings.MEDIA_ROOT) / version.files["train.jsonl"]["name"]).exists()
    client = client_for(reviewer)
    for name in ("train.jsonl", "validation.jsonl", "manifest.json"):
        response = client.get(reverse("version_file", args=[dataset.slug, version.number, name]))
        assert hashlib.sha256(body(response)).hexdigest() == version.files[name]["sha256"]
    ranged = client.get(
        reverse("version_file", args=[dataset.slug, version.number, "train.jsonl"]),
        HTTP_RANGE="bytes=2-6",
    )
    assert ranged.status_code == 206 and body(ranged) == stored(version, "train.jsonl")[2:7]
    zipped = client.get(reverse("version_zip", args=[dataset.slug, version.number]))
    assert zipfile.ZipFile(io.BytesIO(body(zipped))).testzip() is None

    def no_local_path(name: str) -> str:
        raise NotImplementedError("This backend doesn't support absolute paths.")

    monkeypatch.setattr(default_storage._wrapped, "path", no_local_path)
    summary = cli_summary(version)
    assert summary["files"]["train.jsonl"]["path"] == version.files["train.jsonl"]["name"]
    monkeypatch.undo()
    assert delete_version(version=version, user=reviewer)
    assert not default_storage.exists(version.files["train.jsonl"]["name"])
    assert default_storage.exists(version.files["manifest.json"]["name"])
