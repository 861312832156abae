"""The provider layer against the simulator, and the registry built from settings."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from tests.factories import DEFAULT_MODELS
from tests.training.conftest import TEST_KEY, FakeClock, chat_example, wait_until
from training.providers import (
    Availability,
    PermanentProviderError,
    ProviderConfig,
    ProviderNotConfigured,
    RemoteJob,
    TransientProviderError,
    available_providers,
    get_config,
    get_local_backend,
    get_provider,
)
from training.providers.openai_provider import (
    OpenAIProvider,
    decode_result_file,
    parse_result_csv,
)
from training.providers.registry import SIMULATOR_API_KEY
from training.simulator import SimulatorServer

MODEL = "gpt-4.1-mini-2025-04-14"
TAG = "curator_finetune_job"


def start_job(provider: OpenAIProvider, path: Path, **kwargs: Any) -> RemoteJob:
    uploaded = provider.upload_file(path)
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("hyperparameters", {"n_epochs": 2})
    return provider.create_job(training_file=uploaded.id, **kwargs)


# -- the whole flow on the real clock ------------------------------------------------------


def test_whole_flow_upload_create_poll_succeeds(
    fast_simulator: SimulatorServer, training_file: Path, validation_file: Path
) -> None:
    provider = OpenAIProvider(api_key=TEST_KEY, base_url=fast_simulator.base_url, timeout=5)

    uploaded = provider.upload_file(training_file)
    ready = provider.wait_for_file(uploaded.id, poll_interval=0.05)
    validation = provider.upload_file(validation_file)
    job = provider.create_job(
        model=MODEL,
        training_file=ready.id,
        validation_file=validation.id,
        hyperparameters={"n_epochs": 2},
        suffix="invoices",
        seed=11,
        metadata={TAG: "17"},
    )
    assert job.status == "validating_files"
    assert not job.is_terminal

    seen_statuses = []

    def finished() -> RemoteJob | None:
        current = provider.get_job(job.id)
        if not seen_statuses or seen_statuses[-1] != current.status:
            seen_statuses.append(current.status)
        return current if current.is_terminal else None

    done = wait_until(finished)

    assert uploaded.id.startswith("file-") and uploaded.status == "processed"
    assert uploaded.filename == "train.jsonl"
    assert done.status == "succeeded"
    assert seen_statuses[-1] == "succeeded"
    assert set(seen_statuses) <= {"validating_files", "queued", "running", "succeeded"}
    assert done.fine_tuned_model.startswith("ft:gpt-4.1-mini-2025-04-14:curator-sim:invoices:")
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.hyperparameters["n_epochs"] == 2
    assert done.metadata == {TAG: "17"}
    assert done.seed == 11
    assert done.suffix == "invoices"
    assert done.validation_file == validation.id
    assert done.error is None

    events = provider.list_events(job.id)
    assert events[0].message == f"Created fine-tuning job: {job.id}"
    assert events[-1].message == "The job has successfully completed"
    metrics = [e.metrics for e in events if e.metrics]
    assert [m["step"] for m in metrics] == list(range(1, 25))
    assert all("valid_loss" in m for m in metrics)

    checkpoints = provider.list_checkpoints(job.id)
    assert [c.step_number for c in checkpoints] == [12, 24]
    assert checkpoints[-1].fine_tuned_model_checkpoint == done.fine_tuned_model
    assert checkpoints[0].metrics["train_loss"] > 0

    rows = provider.result_metrics(done)
    assert [r["step"] for r in rows] == list(range(1, 25))
    assert rows[0]["train_loss"] > rows[-1]["train_loss"]
    assert {"valid_loss", "train_mean_token_accuracy"} <= set(rows[0])
    assert [r["train_loss"] for r in rows] == [m["train_loss"] for m in metrics]


# -- events and results ----------------------------------------------------------------------


def test_list_events_after_returns_only_newer_events_oldest_first(
    provider: OpenAIProvider, clock: FakeClock, training_file: Path
) -> None:
    job = start_job(provider, training_file)
    clock.advance(12)
    first_batch = provider.list_events(job.id)
    clock.advance(1000)

    newer = provider.list_events(job.id, after=first_batch[-1].id)
    everything = provider.list_events(job.id)

    assert [e.id for e in everything] == [e.id for e in first_batch + newer]
    assert newer[-1].message == "The job has successfully completed"
    assert provider.list_events(job.id, after=everything[-1].id) == []


def test_events_beyond_one_page_are_all_read(
    provider: OpenAIProvider, clock: FakeClock, make_jsonl: Callable[[str, list[Any]], Path]
) -> None:
    # 60 examples x 3 epochs = 180 steps, far more events than one page of 100.
    path = make_jsonl("big.jsonl", [chat_example(i) for i in range(60)])
    job = start_job(provider, path, hyperparameters={"n_epochs": 3})
    clock.advance(1000)

    events = provider.list_events(job.id)

    assert len(events) > 100
    assert len({e.id for e in events}) == len(events)
    steps = [e.metrics["step"] for e in events if e.metrics]
    assert steps == sorted(steps)


def test_result_metrics_fall_back_to_events_without_result_files(
    provider: OpenAIProvider, clock: FakeClock, training_file: Path
) -> None:
    job = start_job(provider, training_file)
    clock.advance(1000)
    done = provider.get_job(job.id)
    without_files = RemoteJob(
        id=done.id,
        status=done.status,
        model=done.model,
        training_file=done.training_file,
        created_at=done.created_at,
    )

    assert [r["step"] for r in provider.result_metrics(without_files)] == list(range(1, 25))
    assert provider.result_metrics(without_files) == [
        {k: v for k, v in row.items() if k != "train_accuracy"} | {"total_steps": 24}
        for row in provider.result_metrics(done)
    ]


def test_decode_result_file_accepts_base64_and_plain_csv() -> None:
    text = "step,train_loss,valid_loss\n1,2.5,\n2,1.5,1.7\n"

    assert decode_result_file(text.encode()) == text.strip()
    assert decode_result_file(base64.b64encode(text.encode())) == text
    assert parse_result_csv(text) == [
        {"step": 1, "train_loss": 2.5},
        {"step": 2, "train_loss": 1.5, "valid_loss": 1.7},
    ]


# -- failures --------------------------------------------------------------------------------


def test_server_error_on_create_is_transient_and_a_retry_succeeds(
    provider: OpenAIProvider, simulator: SimulatorServer, training_file: Path
) -> None:
    uploaded = provider.upload_file(training_file)
    simulator.set_faults("jobs.create=500")

    with pytest.raises(TransientProviderError) as caught:
        provider.create_job(model=MODEL, training_file=uploaded.id)
    job = provider.create_job(model=MODEL, training_file=uploaded.id)

    assert caught.value.status_code == 500
    assert "HTTP 500" in str(caught.value)
    assert [j["id"] for j in simulator.state.jobs] == [job.id]


def test_timeout_on_create_then_the_job_is_found_by_its_tag(
    provider: OpenAIProvider, simulator: SimulatorServer, training_file: Path
) -> None:
    uploaded = provider.upload_file(training_file)
    simulator.set_faults("jobs.create=timeout")

    with pytest.raises(TransientProviderError) as caught:
        provider.create_job(model=MODEL, training_file=uploaded.id, metadata={TAG: "5"})
    found = provider.find_job_by_metadata(TAG, "5")

    assert caught.value.code in {"timeout", "connection_error"}
    assert found is not None
    assert found.metadata == {TAG: "5"}
    assert [j["id"] for j in simulator.state.jobs] == [found.id]
    assert provider.find_job_by_metadata(TAG, "6") is None


def test_find_job_by_metadata_returns_the_newest_match(
    provider: OpenAIProvider, training_file: Path
) -> None:
    start_job(provider, training_file, metadata={TAG: "1"})
    newer = start_job(provider, training_file, metadata={TAG: "1"})
    start_job(provider, training_file, metadata={TAG: "2"})

    assert provider.find_job_by_metadata(TAG, "1").id == newer.id


def test_rate_limit_on_upload_is_transient_with_retry_after(
    provider: OpenAIProvider, simulator: SimulatorServer, training_file: Path
) -> None:
    simulator.set_faults("files.create=429")

    with pytest.raises(TransientProviderError) as caught:
        provider.upload_file(training_file)

    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.retry_after == 1.0
    assert simulator.state.files == []


def test_daily_limit_is_permanent_with_a_clear_message(
    provider: OpenAIProvider, simulator: SimulatorServer, training_file: Path
) -> None:
    uploaded = provider.upload_file(training_file)
    simulator.set_faults("jobs.create=429daily")

    with pytest.raises(PermanentProviderError) as caught:
        provider.create_job(model=MODEL, training_file=uploaded.id)

    assert caught.value.code == "daily_limit_exceeded"
    assert str(caught.value).startswith("Simulator: You have reached your daily limit")
    assert "HTTP 429" in str(caught.value)


def test_bad_key_is_permanent_invalid_api_key(
    simulator: SimulatorServer, training_file: Path
) -> None:
    provider = OpenAIProvider(api_key="sk-bad-key-123456", base_url=simulator.base_url)

    with pytest.raises(PermanentProviderError) as caught:
        provider.upload_file(training_file)

    assert caught.value.code == "invalid_api_key"
    assert caught.value.status_code == 401
    assert "Incorrect API key provided" in str(caught.value)


def test_unknown_model_is_permanent(provider: OpenAIProvider, training_file: Path) -> None:
    with pytest.raises(PermanentProviderError) as caught:
        start_job(provider, training_file, model="gpt-2")

    assert caught.value.code == "model_not_available"
    assert caught.value.param == "model"


def test_unknown_job_is_permanent_not_found(provider: OpenAIProvider) -> None:
    with pytest.raises(PermanentProviderError) as caught:
        provider.get_job("ftjob-missing")

    assert caught.value.status_code == 404


def test_connection_refused_is_transient(training_file: Path) -> None:
    with SimulatorServer() as server:
        url = server.base_url
    provider = OpenAIProvider(api_key=TEST_KEY, base_url=url, timeout=2)

    with pytest.raises(TransientProviderError) as caught:
        provider.get_job("ftjob-any")

    assert caught.value.code == "connection_error"


def test_missing_key_is_refused_before_any_call() -> None:
    with pytest.raises(PermanentProviderError) as caught:
        OpenAIProvider(api_key="", base_url="http://127.0.0.1:9/v1")

    assert caught.value.code == "missing_api_key"


def test_invalid_training_file_fails_the_job_with_openai_error(
    provider: OpenAIProvider, clock: FakeClock, make_jsonl: Callable[[str, list[Any]], Path]
) -> None:
    records: list[Any] = [chat_example(i) for i in range(12)]
    records[6] = {"messages": [{"role": "user", "content": "no answer"}]}
    job = start_job(provider, make_jsonl("bad.jsonl", records))
    clock.advance(5)

    failed = provider.get_job(job.id)

    assert failed.status == "failed"
    assert failed.is_terminal
    assert failed.error is not None
    assert failed.error.code == "invalid_training_file"
    assert failed.error.param == "training_file"
    assert "Line 7" in failed.error.message
    assert provider.list_events(job.id)[-1].level == "error"


def test_cancel_returns_the_cancelled_job(
    provider: OpenAIProvider, clock: FakeClock, training_file: Path
) -> None:
    job = start_job(provider, training_file)
    clock.advance(12)

    cancelled = provider.cancel(job.id)
    clock.advance(1000)

    assert cancelled.status == "cancelled"
    assert provider.get_job(job.id).status == "cancelled"
    assert provider.get_job(job.id).fine_tuned_model is None


def test_cancelling_a_finished_job_is_permanent(
    provider: OpenAIProvider, clock: FakeClock, training_file: Path
) -> None:
    job = start_job(provider, training_file)
    clock.advance(1000)

    with pytest.raises(PermanentProviderError) as caught:
        provider.cancel(job.id)

    assert caught.value.status_code == 400


# -- registry --------------------------------------------------------------------------------

SIM_ENTRY = {"name": "sim", "kind": "simulator", "label": "Simulator", "models": DEFAULT_MODELS}
OPENAI_ENTRY = {
    "name": "openai",
    "kind": "openai",
    "label": "OpenAI",
    "api_key_env": "CURATOR_TEST_OPENAI_KEY",
    "models": {MODEL: {"token_limit": 65536, "price_per_million": 5.0}},
}


def test_simulator_kind_points_at_the_simulator_url(simulator: SimulatorServer) -> None:
    with override_settings(
        CURATOR_TRAINING_PROVIDERS=[SIM_ENTRY], CURATOR_SIMULATOR_URL=simulator.base_url
    ):
        provider = get_provider("sim")
        config = get_config("sim")

    assert isinstance(provider, OpenAIProvider)
    assert provider.is_simulator is True
    assert provider.label == "Simulator"
    assert config.base_url == simulator.base_url
    assert config.api_key() == SIMULATOR_API_KEY
    # It really talks to the simulator with the fixed key.
    assert provider.find_job_by_metadata(TAG, "1") is None
    assert simulator.state.request_log == [("jobs.list", "200")]


def test_openai_kind_reads_its_key_from_the_named_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CURATOR_TEST_OPENAI_KEY", "sk-from-env")
    with override_settings(CURATOR_TRAINING_PROVIDERS=[OPENAI_ENTRY]):
        provider = get_provider("openai")
        [config] = available_providers()

    assert isinstance(provider, OpenAIProvider)
    assert provider.client.api_key == "sk-from-env"
    assert provider.is_simulator is False
    assert config.model(MODEL).token_limit == 65536
    assert config.model("gpt-unknown") is None


def test_openai_kind_without_its_key_is_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CURATOR_TEST_OPENAI_KEY", raising=False)
    with override_settings(
        CURATOR_TRAINING_PROVIDERS=[OPENAI_ENTRY, SIM_ENTRY], CURATOR_SIMULATE_WITHOUT_KEYS=False
    ):
        offered = [c.name for c in available_providers()]
        listed = [c.name for c in available_providers(include_unusable=True)]
        with pytest.raises(ProviderNotConfigured, match="CURATOR_TEST_OPENAI_KEY"):
            get_provider("openai")

    assert offered == ["sim"]
    assert listed == ["openai", "sim"]


def test_unknown_provider_name_is_not_configured() -> None:
    with (
        override_settings(CURATOR_TRAINING_PROVIDERS=[SIM_ENTRY]),
        pytest.raises(ProviderNotConfigured) as caught,
    ):
        get_provider("azure")

    assert caught.value.code == "provider_not_configured"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"name": "x"}, "must be a list"),
        ([{"kind": "openai"}], "needs a 'name'"),
        ([{"name": "x", "kind": "magic"}], "kind is 'magic'"),
        ([SIM_ENTRY, SIM_ENTRY], "more than once"),
        ([{"name": "x", "models": {"m": {"price_per_million": 1}}}], "lacks 'token_limit'"),
    ],
)
def test_malformed_settings_are_improperly_configured(entries: Any, message: str) -> None:
    with (
        override_settings(CURATOR_TRAINING_PROVIDERS=entries),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        available_providers()


def test_default_list_simulates_each_hosted_provider_whose_key_is_unset(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hasattr(settings, "CURATOR_TRAINING_PROVIDERS"):
        del settings.CURATOR_TRAINING_PROVIDERS
    settings.CURATOR_SIMULATOR_URL = "http://127.0.0.1:9611/v1"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    monkeypatch.delenv("FIREWORKS_API_KEY", raising=False)

    configs = {c.name: c for c in available_providers()}

    assert set(configs) == {"openai", "together", "fireworks"}
    assert not configs["openai"].is_simulator
    assert configs["together"].url == "http://127.0.0.1:9611/together"
    assert configs["fireworks"].display_label == "Fireworks AI (simulated)"


class FakeLocalBackend:
    """Stands in for the GPU-worker backend, which lives outside this package."""

    queue_name = "gpu-queue"
    cache_dir = device = work_dir = None
    sample_count = sample_max_new_tokens = 1

    def __init__(self, *, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self.label = config.label
        self.cancelled: list[str] = []

    def queue(self) -> Any:
        return None

    def gpu_workers(self) -> list[str]:
        return ["gpu-1"]

    def availability(self) -> Availability:
        return Availability(problems=(), workers=("gpu-1",))

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)


def test_local_kind_builds_its_backend_class() -> None:
    entry = {
        "name": "gpu",
        "kind": "local",
        "backend": f"{__name__}.FakeLocalBackend",
        "lora_rank": 16,
    }
    with override_settings(CURATOR_TRAINING_PROVIDERS=[entry]):
        provider = get_local_backend("gpu")

    assert isinstance(provider, FakeLocalBackend)
    assert provider.config.options == {"lora_rank": 16}
    assert provider.config.is_usable


def test_local_kind_with_a_missing_backend_is_not_configured() -> None:
    entry = {"name": "gpu", "kind": "local", "backend": "training.nowhere.Provider"}
    with (
        override_settings(CURATOR_TRAINING_PROVIDERS=[entry]),
        pytest.raises(ProviderNotConfigured, match=r"cannot import backend"),
    ):
        get_local_backend("gpu")
