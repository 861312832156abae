"""Training pages: who may see and do what, and what the pages say."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from curation.models import AuditEvent, JobStatus, Role
from tests.factories import (
    DatasetFactory,
    FineTuneJobFactory,
    MembershipFactory,
    built_version,
    simulator_provider,
)
from tests.helpers import ALL, as_user, assert_admin_actions
from training.models import FineTuneJob

pytestmark = pytest.mark.django_db

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture(autouse=True)
def simulator_settings(settings: Any, simulator: Any) -> None:
    # The launch check reaches the provider, so a simulator answers on a free port.
    settings.CURATOR_TRAINING_PROVIDERS = [simulator_provider(simulator.base_url)]


def web(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def job(dataset: Any) -> FineTuneJob:
    return FineTuneJobFactory(dataset=dataset, status=JobStatus.RUNNING, remote_status="running")


def expected(who: str) -> int:
    return {"anonymous": 302, "outsider": 404, "reviewer": 403, "admin": 200}[who]


@pytest.mark.parametrize("who", ALL)
def test_dataset_training_pages_are_for_dataset_admins(
    request: Any,
    who: str,
    dataset: Any,
    job: FineTuneJob,
    admin_user: Any,
    reviewer: Any,
    outsider: Any,
) -> None:
    client = web(as_user(request, who))
    pages = {
        "finetune_list": reverse("finetune_list", args=[dataset.slug]),
        "finetune_launch": reverse("finetune_launch", args=[dataset.slug]),
        "finetune_detail": reverse("finetune_detail", args=[dataset.slug, job.pk]),
        "finetune_detail_live": reverse("finetune_detail", args=[dataset.slug, job.pk])
        + "?fragment=live",
        "finetune_cancel": reverse("finetune_cancel", args=[dataset.slug, job.pk]),
    }
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == expected(who), name
        if who == "anonymous":
            assert "/accounts/login/" in response["Location"], name


@pytest.mark.parametrize("who", ALL)
def test_training_actions_are_for_dataset_admins(
    request: Any, who: str, dataset: Any, admin_user: Any, reviewer: Any, outsider: Any
) -> None:
    client = web(as_user(request, who))
    version = built_version(dataset)
    running = FineTuneJobFactory(dataset=dataset, version=version, status=JobStatus.QUEUED)
    failed = FineTuneJobFactory(dataset=dataset, version=version, status=JobStatus.FAILED)
    actions = {
        "launch": (
            reverse("finetune_launch", args=[dataset.slug]),
            {
                "version": version.number,
                "provider": "simulator",
                "base_model": MODEL,
                "method": "supervised",
                "n_epochs": "auto",
                "batch_size": "auto",
                "learning_rate_multiplier": "auto",
            },
        ),
        "cancel": (reverse("finetune_cancel", args=[dataset.slug, running.pk]), {}),
        "retry": (reverse("finetune_retry", args=[dataset.slug, failed.pk]), {}),
    }
    assert_admin_actions(client, who, actions)
    launched = FineTuneJob.objects.exclude(pk__in=[running.pk, failed.pk])
    running.refresh_from_db()
    failed.refresh_from_db()
    if who == "admin":
        assert launched.count() == 1
        assert running.status == JobStatus.CANCELLED
        assert failed.status == JobStatus.QUEUED
        actions_done = set(AuditEvent.objects.values_list("action", flat=True))
        assert {"finetune.launch", "finetune.cancel", "finetune.retry"} <= actions_done
    else:
        assert not launched.exists()  # reviewers never launch training
        assert running.status == JobStatus.QUEUED and failed.status == JobStatus.FAILED


def test_reviewer_cannot_launch(dataset: Any, reviewer: Any) -> None:
    version = built_version(dataset)
    response = web(reviewer).post(
        reverse("finetune_launch", args=[dataset.slug]),
        {
            "version": version.number,
            "provider": "simulator",
            "base_model": MODEL,
            "method": "supervised",
            "n_epochs": "auto",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
        },
    )
    assert response.status_code == 403
    assert not FineTuneJob.objects.exists()


def test_a_job_of_another_dataset_is_not_found(dataset: Any, admin_user: Any) -> None:
    other = FineTuneJobFactory(dataset=DatasetFactory(slug="other"))
    response = web(admin_user).get(reverse("finetune_detail", args=[dataset.slug, other.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize("who", ALL)
def test_site_wide_list_shows_only_jobs_of_my_datasets(
    request: Any,
    who: str,
    dataset: Any,
    job: FineTuneJob,
    admin_user: Any,
    reviewer: Any,
    outsider: Any,
) -> None:
    elsewhere = DatasetFactory(slug="secret-place", name="Secret place")
    hidden = FineTuneJobFactory(dataset=elsewhere, base_model="gpt-4o-mini-2024-07-18")
    response = web(as_user(request, who)).get(reverse("training_jobs"))
    if who == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        return
    assert response.status_code == 200
    html = response.content.decode()
    assert "Secret place" not in html and f"#{hidden.pk}<" not in html
    detail = reverse("finetune_detail", args=[dataset.slug, job.pk])
    assert (detail in html) == (who == "admin")


def test_site_wide_list_spans_the_datasets_i_administer(
    dataset: Any, job: FineTuneJob, admin_user: Any
) -> None:
    second = DatasetFactory(slug="second", name="Second")
    MembershipFactory(dataset=second, user=admin_user, role=Role.ADMIN)
    other_job = FineTuneJobFactory(dataset=second)
    html = web(admin_user).get(reverse("training_jobs")).content.decode()
    assert reverse("finetune_detail", args=[dataset.slug, job.pk]) in html
    assert reverse("finetune_detail", args=[second.slug, other_job.pk]) in html
    assert "Simulator — no real training" in html


def test_launch_page_shows_checks_estimate_and_the_simulator(dataset: Any, admin_user: Any) -> None:
    built_version(dataset, train=12, validation=3)
    response = web(admin_user).get(reverse("finetune_launch", args=[dataset.slug]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "OpenAI simulator (Simulator — no real training)" in html
    assert "have no API key" in html
    assert "Estimated cost" in html and "360" in html  # 12 examples x 30 tokens per epoch
    assert "At least 10 examples" in html


def test_launch_page_explains_what_fails_and_refuses(dataset: Any, admin_user: Any) -> None:
    version = built_version(dataset, train=5, validation=1)
    client = web(admin_user)
    url = reverse("finetune_launch", args=[dataset.slug])
    html = client.get(url).content.decode()
    assert "5 training examples; fine-tuning needs at least 10" in html
    assert "disabled" in html
    response = client.post(
        url,
        {
            "version": version.number,
            "provider": "simulator",
            "base_model": MODEL,
            "method": "supervised",
            "n_epochs": "auto",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
        },
    )
    assert response.status_code == 200
    assert "This cannot be launched" in response.content.decode()
    assert not FineTuneJob.objects.exists()


def test_launch_form_rejects_bad_hyperparameters(dataset: Any, admin_user: Any) -> None:
    version = built_version(dataset)
    response = web(admin_user).post(
        reverse("finetune_launch", args=[dataset.slug]),
        {
            "version": version.number,
            "provider": "simulator",
            "base_model": MODEL,
            "method": "supervised",
            "n_epochs": "500",
            "batch_size": "two",
            "learning_rate_multiplier": "auto",
            "suffix": "no spaces",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "epochs: 500 is outside 1 to 50" in html
    assert "batch size: expected &#x27;auto&#x27; or a whole number" in html
    assert "letters, digits" in html
    assert not FineTuneJob.objects.exists()


def test_launch_check_fragment_for_htmx(dataset: Any, admin_user: Any) -> None:
    version = built_version(dataset)
    response = web(admin_user).get(
        reverse("finetune_launch", args=[dataset.slug]),
        {
            "fragment": "check",
            "version": version.number,
            "provider": "simulator",
            "base_model": MODEL,
            "n_epochs": "4",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<aside id="launch-check"')
    assert "1,440" in html  # 4 epochs x 360 tokens


def test_launch_again_prefills_the_form(dataset: Any, admin_user: Any) -> None:
    job = FineTuneJobFactory(
        dataset=dataset,
        status=JobStatus.FAILED,
        remote_status="failed",
        suffix="tickets",
        seed=5,
        hyperparameters={"n_epochs": 3, "batch_size": "auto", "learning_rate_multiplier": 0.5},
    )
    client = web(admin_user)
    detail = client.get(job.get_absolute_url()).content.decode()
    assert "Launch again with these settings" in detail
    assert ">Retry<" not in detail  # the provider ended it
    html = client.get(
        reverse("finetune_launch", args=[dataset.slug]) + "?" + job.relaunch_query
    ).content.decode()
    assert 'value="tickets"' in html and 'value="0.5"' in html and 'value="5"' in html


def test_job_page_shows_error_message_and_code(dataset: Any, admin_user: Any) -> None:
    job = FineTuneJobFactory(
        dataset=dataset,
        status=JobStatus.FAILED,
        error="OpenAI simulator: You have reached your daily limit",
        error_code="daily_limit_exceeded",
    )
    html = web(admin_user).get(job.get_absolute_url()).content.decode()
    assert "You have reached your daily limit" in html
    assert "daily_limit_exceeded" in html
    assert ">Retry<" in html


def test_job_page_escapes_provider_text(dataset: Any, admin_user: Any) -> None:
    job = FineTuneJobFactory(
        dataset=dataset, status=JobStatus.FAILED, error="<script>alert(1)</script>"
    )
    html = web(admin_user).get(job.get_absolute_url()).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_live_fragment_polls_only_while_active(
    dataset: Any, admin_user: Any, job: FineTuneJob
) -> None:
    client = web(admin_user)
    url = job.get_absolute_url() + "?fragment=live"
    html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="finetune-live"') and 'hx-trigger="every 3s"' in html
    FineTuneJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in html


def test_cancel_asks_for_confirmation_without_js(
    dataset: Any, admin_user: Any, job: FineTuneJob
) -> None:
    client = web(admin_user)
    html = client.get(reverse("finetune_cancel", args=[dataset.slug, job.pk])).content.decode()
    assert "Cancel fine-tune #" in html and 'method="post"' in html
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING


def test_dataset_nav_links_training_for_admins_only(
    dataset: Any, admin_user: Any, reviewer: Any
) -> None:
    url = reverse("dataset_detail", args=[dataset.slug])
    training = reverse("finetune_list", args=[dataset.slug])
    assert training in web(admin_user).get(url).content.decode()
    assert training not in web(reviewer).get(url).content.decode()


def test_list_page_for_a_dataset_without_versions(admin_user: Any, dataset: Any) -> None:
    html = web(admin_user).get(reverse("finetune_list", args=[dataset.slug])).content.decode()
    assert "build one first" in html


def test_a_running_job_never_says_it_finishes_now_or_that_it_ran(
    dataset: Any, admin_user: Any
) -> None:
    job = FineTuneJobFactory(
        dataset=dataset,
        status=JobStatus.RUNNING,
        remote_status="running",
        estimated_finish=timezone.now() - timedelta(seconds=5),
        done=5,
        total=10,
        timeline=[{"status": "running", "at": (timezone.now() - timedelta(minutes=5)).isoformat()}],
    )

    html = web(admin_user).get(job.get_absolute_url()).content.decode()

    assert "finish now" not in html
    assert "expected to finish in about 5" in html  # 5 minutes for 5 steps, 5 to go
    assert "This job runs on the bundled simulator" in html
    assert "This job ran" not in html


def test_a_finished_job_says_it_ran_and_where_its_model_is_served(
    dataset: Any, admin_user: Any
) -> None:
    job = FineTuneJobFactory(
        dataset=dataset,
        status=JobStatus.SUCCEEDED,
        artifacts={"deployment": "Fireworks model accounts/a/models/m: call it at X"},
    )

    html = web(admin_user).get(job.get_absolute_url()).content.decode()

    assert "This job ran on the bundled simulator" in html
    assert "Fireworks model accounts/a/models/m" in html


@pytest.mark.parametrize(
    ("provider", "says"),
    [
        ("fireworks", "Fireworks&#x27; API lists no intermediate checkpoints of a fine-tuning job"),
        ("together", "None: the provider reported no checkpoints for this job."),
    ],
)
def test_a_finished_job_without_checkpoints_says_why_fireworks_has_none(
    dataset: Any, admin_user: Any, provider: str, says: str
) -> None:
    job = FineTuneJobFactory(
        dataset=dataset,
        provider=provider,
        provider_kind=provider,
        status=JobStatus.SUCCEEDED,
        remote_job_id="ft-1",
        fine_tuned_model="acme/model-ft",
    )

    page = web(admin_user).get(reverse("finetune_detail", args=[dataset.slug, job.pk]))

    assert page.status_code == 200
    assert says in page.content.decode()
