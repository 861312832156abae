"""The fine-tune worker flow with the real SDK against the simulator, on a hand-driven clock.

``drive`` runs a job the way the worker does (same service functions), with the scheduler's
waits replaced by moving the simulator's clock, so every retry and poll is reproducible and
the simulator's request log tells exactly what was sent.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from curation.models import AuditEvent, DatasetVersion, JobStatus
from tests.factories import DEFAULT_MODELS, built_version, simulator_provider
from tests.training.conftest import FakeClock
from training.models import METADATA_TAG, FineTuneEvent, FineTuneJob, FineTuneMetric
from training.providers import get_provider
from training.services import (
    LaunchError,
    cancel_finetune,
    check_launch,
    create_finetune_job,
    drive_finetune,
    retry_finetune,
    run_finetune_job,
    sync_finetune,
)
from training.services.config import poll_delay
from training.services.runner import continue_finetune_job, upload_files
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def sim(simulator: SimulatorServer, settings: Any) -> SimulatorServer:
    """The simulator (on the test's fake clock) as the only configured provider."""
    settings.CURATOR_TRAINING_PROVIDERS = [simulator_provider(simulator.base_url)]
    return simulator


@pytest.fixture
def web_for() -> Any:
    """A Django test client logged in as a user (tests/training's `client` is the SDK's)."""
    from django.test import Client

    def login(user: Any) -> Client:
        web = Client()
        if user is not None:
            web.force_login(user)
        return web

    return login


@pytest.fixture
def version(dataset: Any) -> DatasetVersion:
    return built_version(dataset, train=12, validation=3)


def launch(version: DatasetVersion, user: Any = None, **kwargs: Any) -> FineTuneJob:
    kwargs.setdefault("provider", "simulator")
    kwargs.setdefault("base_model", MODEL)
    return create_finetune_job(version=version, user=user, enqueue=False, **kwargs)


def drive(job: FineTuneJob, clock: FakeClock) -> FineTuneJob:
    return drive_finetune(job_id=job.pk, sleep=clock.advance)


def calls(server: SimulatorServer, endpoint: str) -> int:
    return Counter(name for name, _ in server.state.request_log)[endpoint]


def remote_jobs_for(server: SimulatorServer, job: FineTuneJob) -> list[dict[str, Any]]:
    return [j for j in server.state.jobs if (j["metadata"] or {}).get(METADATA_TAG) == str(job.uid)]


# -- the whole flow ---------------------------------------------------------------------


def test_launch_runs_to_success_and_the_page_shows_it(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion, admin_user: Any, web_for: Any
) -> None:
    client = web_for(admin_user)
    response = client.post(
        reverse("finetune_launch", args=[version.dataset.slug]),
        {
            "version": version.number,
            "provider": "simulator",
            "base_model": MODEL,
            "method": "supervised",
            "n_epochs": "2",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
            "suffix": "invoices",
            "seed": "7",
        },
    )
    job = FineTuneJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.status == JobStatus.QUEUED and job.created_by == admin_user
    assert job.hyperparameters == {
        "n_epochs": 2,
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    }
    assert job.estimated_tokens == 2 * 30 * 12 and job.estimated_cost is not None
    assert AuditEvent.objects.filter(action="finetune.launch", object_id=str(job.pk)).exists()

    job = drive(job, clock)

    assert job.status == JobStatus.SUCCEEDED, job.error
    [remote] = sim.state.jobs
    assert job.remote_job_id == remote["id"]
    assert job.fine_tuned_model == remote["fine_tuned_model"]
    assert job.fine_tuned_model.startswith(f"ft:{MODEL}:") and ":invoices:" in job.fine_tuned_model
    assert job.trained_tokens == remote["trained_tokens"]
    assert remote["metadata"][METADATA_TAG] == str(job.uid)
    assert remote["seed"] == 7 and remote["hyperparameters"]["n_epochs"] == 2
    assert remote["training_file"] == job.remote_training_file
    assert remote["validation_file"] == job.remote_validation_file
    assert job.resolved_hyperparameters["n_epochs"] == 2
    assert calls(sim, "jobs.create") == 1 and calls(sim, "files.create") == 2

    # Every remote event stored once; metrics from the result file cover every step.
    remote_events = sim.state.job_events(job.remote_job_id)
    assert job.events.count() == len(remote_events)
    total_steps = job.total
    assert total_steps and job.done == total_steps
    assert job.metrics.count() == total_steps
    assert set(job.metrics.values_list("source", flat=True)) == {"result"}
    first = job.metrics.get(step=1)
    assert first.train_loss is not None and first.valid_loss is not None
    assert first.train_mean_token_accuracy is not None
    assert job.checkpoints.count() >= 1
    final = job.checkpoints.order_by("-step").first()
    assert final.fine_tuned_model_checkpoint == job.fine_tuned_model
    statuses = [step["status"] for step in job.timeline]
    for expected in ("queued", "uploading", "uploaded", "created", "running", "succeeded"):
        assert expected in statuses

    # A second sync (a late webhook, say) stores nothing twice.
    sync_finetune(job=job, provider=get_provider("simulator"))
    assert job.events.count() == len(remote_events)
    assert FineTuneMetric.objects.filter(job=job).count() == total_steps

    page = client.get(job.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert job.fine_tuned_model in html
    assert "Simulator — no real training" in html
    assert "Fine-tuning job started" in html  # the events log
    assert 'id="finetune-curve"' in html and '"train_loss": [' in html
    assert 'id="metrics-table"' in html
    assert "chart-4.6.1.umd.min.js" in html and "finetune_chart.js" in html
    assert job.remote_job_id in html


def test_metrics_events_fill_the_curve_while_running(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    job = launch(version, hyperparameters={"n_epochs": 1})
    assert run_finetune_job(job_id=job.pk, schedule=lambda *_: None) is not None
    job.refresh_from_db()
    clock.advance(10 + 6)  # validating, queued, then six steps of training
    continue_finetune_job(job_id=job.pk, chain=job.chain, schedule=lambda *_: None)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.remote_status == "running"
    assert job.metrics.filter(source="event").count() >= 1
    assert job.events.filter(type="metrics").exists()
    assert job.done >= 1 and job.total and job.total > job.done


# -- faults: each ends with exactly one remote job ---------------------------------------


def test_server_error_on_create_is_retried(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    sim.set_faults("jobs.create=500")
    job = drive(launch(version), clock)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert calls(sim, "jobs.create") == 2
    assert len(sim.state.jobs) == 1 and len(remote_jobs_for(sim, job)) == 1


def test_dropped_create_response_does_not_create_twice(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    # The simulator creates the job, then drops the connection without replying.
    sim.set_faults("jobs.create=timeout")
    job = drive(launch(version), clock)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert calls(sim, "jobs.create") == 1  # the retry found it by its tag instead
    assert len(sim.state.jobs) == 1
    assert job.remote_job_id == sim.state.jobs[0]["id"]


def test_rate_limit_on_upload_is_retried(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    sim.set_faults("files.create=429")
    job = drive(launch(version), clock)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert calls(sim, "files.create") == 3
    assert len(sim.state.jobs) == 1 and len(remote_jobs_for(sim, job)) == 1


def test_dropped_upload_response_is_uploaded_again(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    sim.set_faults("files.create=timeout")
    job = drive(launch(version), clock)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert len(sim.state.jobs) == 1
    # The lost upload stays behind as an orphan file (accepted; see upload_files).
    uploads = [f for f in sim.state.files if f["purpose"] == "fine-tune"]
    assert len(uploads) == 3
    assert all(f"-ft{job.pk}-" in f["filename"] for f in uploads)


def test_server_errors_until_the_attempts_run_out_then_retry(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion, admin_user: Any
) -> None:
    sim.set_faults("jobs.create=" + ",".join(["503"] * 10))
    job = drive(launch(version), clock)
    assert job.status == JobStatus.FAILED
    assert calls(sim, "jobs.create") == 6  # bounded: no retry storm
    assert "gave up after 6 attempts" in job.error
    assert job.error_code == "server_error"
    assert sim.state.jobs == []
    assert job.can_retry

    sim.set_faults(None)
    assert retry_finetune(job=job, user=admin_user)
    job = drive(job, clock)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert len(sim.state.jobs) == 1
    assert AuditEvent.objects.filter(action="finetune.retry", object_id=str(job.pk)).exists()


def test_daily_limit_fails_at_once(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    sim.set_faults("jobs.create=429daily")
    job = drive(launch(version), clock)
    assert job.status == JobStatus.FAILED
    assert job.error_code == "daily_limit_exceeded"
    assert "daily limit" in job.error
    assert calls(sim, "jobs.create") == 1
    assert sim.state.jobs == []


def test_bad_key_is_refused_at_launch_with_the_providers_message(
    simulator: SimulatorServer,
    version: DatasetVersion,
    settings: Any,
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("CURATOR_TEST_BAD_KEY", "sk-bad-0123456789")
    settings.CURATOR_TRAINING_PROVIDERS = [
        simulator_provider(simulator.base_url, api_key_env="CURATOR_TEST_BAD_KEY")
    ]
    with pytest.raises(LaunchError) as raised:
        launch(version)
    assert "Incorrect API key" in str(raised.value)
    assert simulator.base_url in str(raised.value)
    assert calls(simulator, "files.create") == 0
    assert not FineTuneJob.objects.exists()


def test_unknown_model_at_the_provider_fails_clearly(
    simulator: SimulatorServer, clock: FakeClock, version: DatasetVersion, settings: Any
) -> None:
    models = {**DEFAULT_MODELS, "gpt-9-turbo": {"token_limit": 65536, "price_per_million": 1}}
    settings.CURATOR_TRAINING_PROVIDERS = [simulator_provider(simulator.base_url, models=models)]
    job = drive(launch(version, base_model="gpt-9-turbo"), clock)
    assert job.status == JobStatus.FAILED
    assert job.error_code == "model_not_available"
    assert "gpt-9-turbo" in job.error
    assert calls(simulator, "jobs.create") == 1


def test_a_file_the_provider_rejects_fails_the_job(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    # A file valid as JSON lines but with no assistant message: OpenAI's validation fails it.
    data = b"".join(
        b'{"messages": [{"role": "user", "content": "question %d"}]}\n' % i for i in range(12)
    )
    import hashlib

    name = default_storage.save(f"test-snapshots/bad/{version.pk}/train.jsonl", ContentFile(data))
    files = {
        **version.files,
        "train.jsonl": {
            "name": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        },
    }
    DatasetVersion.objects.filter(pk=version.pk).update(files=files)
    version.refresh_from_db()
    job = drive(launch(version), clock)
    assert job.status == JobStatus.FAILED
    assert job.remote_status == "failed"
    assert job.error_code == "invalid_training_file"
    assert "no assistant message" in job.error
    assert not job.can_retry  # the provider ended it: a new launch is needed
    assert len(sim.state.jobs) == 1


# -- cancelling ---------------------------------------------------------------------------


def test_cancel_a_running_job(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion, admin_user: Any
) -> None:
    job = launch(version)
    run_finetune_job(job_id=job.pk, schedule=lambda *_: None)
    job.refresh_from_db()
    chain = job.chain
    done, message = cancel_finetune(job=job, user=admin_user)
    assert done, message
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert sim.state.jobs[0]["status"] == "cancelled"
    assert AuditEvent.objects.filter(action="finetune.cancel", object_id=str(job.pk)).exists()
    # The scheduled poll of the old chain finds nothing to do.
    assert continue_finetune_job(job_id=job.pk, chain=chain, schedule=lambda *_: None) is None
    assert not job.can_retry


def test_cancel_before_the_remote_job_exists_sends_nothing(
    sim: SimulatorServer, version: DatasetVersion, admin_user: Any
) -> None:
    job = launch(version)  # queued; no worker has picked it up
    done, _ = cancel_finetune(job=job, user=admin_user)
    assert done
    assert run_finetune_job(job_id=job.pk, schedule=lambda *_: None) is None
    assert [
        e for e in sim.state.request_log if e[0] != "jobs.list"
    ] == []  # only the launch check\'s ping


def test_cancel_while_uploading_stops_before_create(
    sim: SimulatorServer, version: DatasetVersion, admin_user: Any
) -> None:
    job = launch(version)
    assert job.claim()
    job.beat(chain="c1")
    upload_files(job=job, provider=get_provider("simulator"))
    done, _ = cancel_finetune(job=job, user=admin_user)
    assert done
    assert continue_finetune_job(job_id=job.pk, chain="c1", schedule=lambda *_: None) is None
    assert calls(sim, "jobs.create") == 0 and sim.state.jobs == []


# -- checks before anything is sent ------------------------------------------------------


def test_checks_explain_what_fails(sim: SimulatorServer, dataset: Any) -> None:
    small = built_version(dataset, train=8, validation=1, max_tokens=70000)
    check = check_launch(version=small, provider="simulator", base_model=MODEL)
    text = " | ".join(check.problems)
    assert not check.ok
    assert "8 training examples; fine-tuning needs at least 10" in text
    assert "70,000 tokens, over the 65,536-token per-example limit" in text

    check = check_launch(version=small, provider="simulator", base_model="gpt-2")
    assert any("gpt-2 is not a base model" in p for p in check.problems)
    check = check_launch(version=small, provider="nope", base_model=MODEL)
    assert any("no training provider named 'nope'" in p for p in check.problems)

    failed = built_version(dataset, status="failed")
    check = check_launch(version=failed, provider="simulator", base_model=MODEL)
    assert any("is not built" in p for p in check.problems)

    huge = built_version(dataset)
    files = {**huge.files, "train.jsonl": {**huge.files["train.jsonl"], "size": 600 * 1024**2}}
    DatasetVersion.objects.filter(pk=huge.pk).update(files=files)
    huge.refresh_from_db()
    check = check_launch(version=huge, provider="simulator", base_model=MODEL)
    assert any("providers accept files up to 512 MB" in p for p in check.problems)

    with pytest.raises(LaunchError):
        launch(small)
    assert not FineTuneJob.objects.exists()
    assert [
        e for e in sim.state.request_log if e[0] != "jobs.list"
    ] == []  # only the launch check\'s ping


def test_a_tampered_file_is_refused_at_launch_and_by_the_worker(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    job = launch(version)
    path = default_storage.path(version.files["train.jsonl"]["name"])
    with open(path, "ab") as handle:
        handle.write(b'{"messages": [{"role": "user", "content": "smuggled"}]}\n')
    job = drive(job, clock)
    assert job.status == JobStatus.FAILED and job.error_code == "invalid_version"
    assert "does not match its recorded sha256" in job.error
    assert calls(sim, "files.create") == 0
    assert AuditEvent.objects.filter(action="version.file_mismatch").exists()

    with pytest.raises(LaunchError, match=r"sha256|damaged"):
        launch(version)
    check = check_launch(version=version, provider="simulator", base_model=MODEL)
    assert any("changed or damaged" in p for p in check.problems)


# -- following ----------------------------------------------------------------------------


def test_polls_back_off_to_a_minute() -> None:
    delays = [poll_delay(n) for n in range(1, 12)]
    assert delays[0] == 5
    assert delays == sorted(delays)
    assert delays[-1] == 60


def test_a_job_between_polls_is_not_taken_for_lost(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion, settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    job = launch(version)
    old = timezone.now() - timedelta(seconds=settings.CURATOR_JOB_HEARTBEAT_TIMEOUT + 60)
    FineTuneJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        heartbeat_at=old,
        next_check_at=timezone.now() + timedelta(seconds=30),
    )
    job.refresh_from_db()
    job.refresh_lost()
    assert job.status == JobStatus.RUNNING
    FineTuneJob.objects.filter(pk=job.pk).update(next_check_at=old)
    job.refresh_lost()
    assert job.status == JobStatus.FAILED and "worker lost" in job.error
    assert job.can_retry


def test_events_are_stored_once_even_when_synced_twice(
    sim: SimulatorServer, clock: FakeClock, version: DatasetVersion
) -> None:
    job = launch(version, hyperparameters={"n_epochs": 1})
    run_finetune_job(job_id=job.pk, schedule=lambda *_: None)
    job.refresh_from_db()
    clock.advance(20)
    provider = get_provider("simulator")
    sync_finetune(job=job, provider=provider)
    # Forget the cursor: the same events come back and are ignored.
    FineTuneJob.objects.filter(pk=job.pk).update(last_event_id="")
    job.refresh_from_db()
    sync_finetune(job=job, provider=provider)
    remote_ids = [e["id"] for e in sim.state.job_events(job.remote_job_id)]
    stored = list(FineTuneEvent.objects.filter(job=job).values_list("remote_id", flat=True))
    assert sorted(stored) == sorted(remote_ids)
