"""The trained adapter downloads as a zip with its model card, from the page (admins of the
dataset only) and from a script with a personal access token."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from curation.models import AccessToken, AuditEvent, JobStatus
from tests.factories import FineTuneJobFactory, built_version
from training.models import FineTuneJob

pytestmark = pytest.mark.django_db


def stored(name: str, data: bytes) -> dict[str, Any]:
    saved = default_storage.save(name, ContentFile(data))
    return {"name": saved, "size": len(data)}


@pytest.fixture
def job(dataset: Any) -> FineTuneJob:
    version = built_version(dataset)
    prefix = f"adapters/{dataset.slug}/test-{dataset.pk}"
    files = [
        stored(f"{prefix}/adapter_config.json", b'{"r": 8}'),
        stored(f"{prefix}/adapter_model.safetensors", b"weights"),
        stored(f"{prefix}/README.md", b"# Model card"),
        stored(f"{prefix}/merged/model.safetensors", b"merged weights"),
    ]
    return FineTuneJobFactory(
        dataset=dataset,
        version=version,
        status=JobStatus.SUCCEEDED,
        provider_kind="local",
        artifacts={"adapter": prefix, "files": files, "merged": f"{prefix}/merged"},
    )


def names(response: Any) -> set[str]:
    body = b"".join(response.streaming_content)
    return set(zipfile.ZipFile(io.BytesIO(body)).namelist())


def test_an_admin_downloads_the_adapter_with_its_model_card(
    job: FineTuneJob, admin_user: Any
) -> None:
    client = Client()
    client.force_login(admin_user)

    response = client.get(reverse("finetune_adapter_zip", args=[job.dataset.slug, job.pk]))

    assert response.status_code == 200
    assert names(response) == {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    assert AuditEvent.objects.filter(action="finetune.adapter_download").count() == 1


def test_merged_weights_come_only_when_asked(job: FineTuneJob, admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    url = reverse("finetune_adapter_zip", args=[job.dataset.slug, job.pk])

    assert "merged/model.safetensors" in names(client.get(url + "?merged=1"))


def test_a_script_downloads_it_with_an_access_token(job: FineTuneJob, admin_user: Any) -> None:
    _token, secret = AccessToken.issue(user=admin_user, name="ci")

    response = Client().get(
        reverse("finetune_adapter_zip", args=[job.dataset.slug, job.pk]),
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )

    assert response.status_code == 200
    assert "README.md" in names(response)


def test_a_bad_token_is_refused(job: FineTuneJob) -> None:
    response = Client().get(
        reverse("finetune_adapter_zip", args=[job.dataset.slug, job.pk]),
        HTTP_AUTHORIZATION="Bearer nope",
    )

    assert response.status_code == 401


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("outsider", 404)])
def test_it_refuses_anyone_but_the_datasets_admins(
    request: Any, job: FineTuneJob, who: str, status: int
) -> None:
    client = Client()
    client.force_login(request.getfixturevalue(who))

    response = client.get(reverse("finetune_adapter_zip", args=[job.dataset.slug, job.pk]))

    assert response.status_code == status


def test_an_anonymous_visitor_is_sent_to_log_in(job: FineTuneJob) -> None:
    response = Client().get(reverse("finetune_adapter_zip", args=[job.dataset.slug, job.pk]))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_job_without_an_adapter_has_nothing_to_download(dataset: Any, admin_user: Any) -> None:
    empty = FineTuneJobFactory(dataset=dataset, status=JobStatus.FAILED)
    client = Client()
    client.force_login(admin_user)

    response = client.get(reverse("finetune_adapter_zip", args=[dataset.slug, empty.pk]))

    assert response.status_code == 404
