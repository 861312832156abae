"""The launch page and the job page in a real browser: live checks, launch, live progress,
loss chart, cancel confirmation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from curation.models import JobStatus
from tests.factories import built_version, simulator_provider
from tests.training.conftest import FakeClock
from training.models import FineTuneJob
from training.services import drive_finetune
from training.simulator import SimulatorServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock, settings: Any) -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, clock=clock) as server:
        settings.CURATOR_TRAINING_PROVIDERS = [simulator_provider(server.base_url)]
        yield server


@pytest.fixture(autouse=True)
def empty_training_queue() -> Iterator[None]:
    # Launching from the page queues an RQ job; no worker runs here, the test drives it.
    import django_rq

    yield
    django_rq.get_queue("training").empty()


def test_launch_then_follow_the_job_live(
    page: Any,
    login: Any,
    live_server: Any,
    sim: SimulatorServer,
    clock: FakeClock,
    dataset: Any,
    admin_user: Any,
) -> None:
    from playwright.sync_api import expect

    built_version(dataset, train=12, validation=3)
    login(page, admin_user)
    page.goto(live_server.url + reverse("finetune_launch", args=[dataset.slug]))

    expect(page.locator(".notice-simulator")).to_contain_text("Simulator — no real training")
    expect(page.locator("#id_provider option")).to_have_text(
        ["OpenAI simulator (Simulator — no real training)"]
    )
    check = page.locator("#launch-check")
    expect(check).to_contain_text("Estimated cost")
    expect(check).to_contain_text("At least 10 examples")

    # Changing a field refreshes the checks and the estimate in place (htmx).
    page.fill("#id_n_epochs", "2")
    page.locator("#id_n_epochs").press("Tab")
    expect(check).to_contain_text("720")  # 2 epochs x 360 training tokens
    launch = page.get_by_role("button", name="Launch fine-tune")
    expect(launch).to_be_enabled()
    page.fill("#id_n_epochs", "70")
    page.locator("#id_n_epochs").press("Tab")
    expect(check).to_contain_text("epochs: 70 is outside 1 to 50")
    expect(launch).to_be_disabled()
    page.fill("#id_n_epochs", "2")
    page.locator("#id_n_epochs").press("Tab")
    expect(launch).to_be_enabled()
    page.fill("#id_suffix", "browser")

    launch.click()
    page.wait_for_url(re.compile(r"/training/\d+/$"))
    job = FineTuneJob.objects.get()
    assert job.hyperparameters["n_epochs"] == 2 and job.suffix == "browser"
    expect(page.locator("#finetune-status")).to_have_text("Queued")
    expect(page.locator("#loss-chart-empty")).to_be_visible()

    # The worker's part, done here on the simulator's clock; the page follows by itself.
    job = drive_finetune(job_id=job.pk, sleep=clock.advance)
    assert job.status == JobStatus.SUCCEEDED, job.error

    expect(page.locator("#finetune-status")).to_have_text("Succeeded")
    expect(page.locator("#fine-tuned-model")).to_have_text(job.fine_tuned_model)
    expect(page.locator("#events-log")).to_contain_text("Fine-tuning job started")
    expect(page.locator("#loss-chart")).to_have_attribute("data-rendered", "true")
    expect(page.locator("#loss-chart-empty")).to_be_hidden()
    expect(page.locator(".timeline")).to_contain_text("Training")
    assert "Launch again with these settings" in page.content()


def test_cancel_goes_through_a_confirmation_page(
    page: Any, login: Any, live_server: Any, sim: SimulatorServer, dataset: Any, admin_user: Any
) -> None:
    from playwright.sync_api import expect

    from training.services import create_finetune_job

    job = create_finetune_job(
        version=built_version(dataset),
        provider="simulator",
        base_model="gpt-4.1-mini-2025-04-14",
        user=admin_user,
        enqueue=False,
    )
    login(page, admin_user)
    page.goto(live_server.url + job.get_absolute_url())
    page.get_by_role("link", name="Cancel…").click()
    expect(page.locator("h1")).to_contain_text(f"Cancel fine-tune #{job.pk}?")
    page.get_by_role("button", name="Cancel the fine-tune").click()
    expect(page.locator("#finetune-status")).to_have_text("Cancelled")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert [e for e in sim.state.request_log if e[0] != "jobs.list"] == []  # only the ping
