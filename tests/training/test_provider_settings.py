"""Every setting is sent under the provider's own name, or refused before launch in the
provider's words; refusals are permanent and Retry does not repeat them unchanged.

The request and response shapes are the vendors' (fixtures in tests/data/vendors, each with
its source), captured below the real SDKs: no simulator, no network.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from curation.models import DatasetVersion, JobStatus
from tests.factories import FineTuneJobFactory, built_version
from tests.training.capture import Captured, capture, vendor_fixture
from tests.training.test_hosted_providers import MODELS, hosted  # noqa: F401
from training.models import FineTuneJob
from training.providers import PermanentProviderError
from training.providers.base import METADATA_TAG
from training.providers.fireworks_provider import FireworksProvider
from training.providers.together_provider import TogetherProvider
from training.services import LaunchError, create_finetune_job, retry_finetune
from training.simulator import SimulatorServer

TOGETHER_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
FIREWORKS_MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
TAG = {METADATA_TAG: "0a1b2c3d-4e5f-0000-0000-000000000000"}


def together_api(request: Any) -> tuple[int, Any] | None:
    if request.url.path == "/v1/fine-tunes/models/limits":
        return 200, vendor_fixture("together_model_limits.json")
    if request.url.path == "/v1/fine-tunes/estimate-price":
        return 200, vendor_fixture("together_estimate_price.json")
    if request.method == "POST" and request.url.path == "/v1/fine-tunes":
        return 200, {"id": "ft-0a1b", "status": "pending", "model": TOGETHER_MODEL}
    return None


@pytest.fixture
def together(monkeypatch: Any) -> tuple[TogetherProvider, Captured]:
    captured = capture(monkeypatch, together_api)
    return TogetherProvider(api_key="fake-together-key"), captured


def test_together_sends_every_chosen_setting_under_its_own_name(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, captured = together
    provider.create_job(
        model=TOGETHER_MODEL,
        training_file="file-train",
        validation_file="file-valid",
        hyperparameters={
            "n_epochs": 3,
            "batch_size": 16,
            "learning_rate": 2e-5,
            "lora_rank": 16,
            "lora_alpha": 32,
            "dpo_beta": 0.2,
        },
        seed=7,
        metadata=TAG,
        method="dpo",
    )

    (body,) = captured.bodies("POST", "/v1/fine-tunes")
    assert body["n_epochs"] == 3
    assert body["batch_size"] == 16
    assert body["learning_rate"] == 2e-5
    assert body["random_seed"] == 7
    assert body["n_evals"] == 10
    assert body["training_type"]["lora_r"] == 16
    assert body["training_type"]["lora_alpha"] == 32
    assert body["training_method"]["method"] == "dpo"
    assert body["training_method"]["dpo_beta"] == 0.2


def test_togethers_client_side_refusal_is_permanent_in_its_words_and_nothing_is_created(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, captured = together
    with pytest.raises(PermanentProviderError) as caught:
        provider.create_job(
            model=TOGETHER_MODEL,
            training_file="file-train",
            hyperparameters={"batch_size": 2},
            metadata=TAG,
        )

    assert caught.value.code == "invalid_settings"
    assert "Requested batch size of 2 is lower that the minimum allowed value of 8" in str(
        caught.value
    )
    assert captured.bodies("POST", "/v1/fine-tunes") == []


def test_together_settings_are_checked_against_its_published_model_limits(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, _ = together
    problems = provider.check_settings(
        model=TOGETHER_MODEL,
        hyperparameters={"n_epochs": 30, "lora_rank": 128, "batch_size": 200},
        method="supervised",
        validation=False,
    )

    assert problems == [
        f"Together AI: {TOGETHER_MODEL} trains for at most 20 epochs (asked 30)",
        f"Together AI: LoRA rank for {TOGETHER_MODEL} is at most 64 (asked 128)",
        "Together AI: Requested batch size of 200 is higher that the maximum allowed value of 96.",
    ]


def fireworks_api(request: Any) -> tuple[int, Any] | None:
    path = request.url.path
    if request.method == "POST" and path.endswith("/dpoJobs"):
        return 200, vendor_fixture("fireworks_dpo_job.json")
    if request.method == "POST" and path.endswith("/supervisedFineTuningJobs"):
        return 409, vendor_fixture("fireworks_already_exists.json")
    if request.method == "GET" and "/supervisedFineTuningJobs/" in path:
        return 200, vendor_fixture("fireworks_sft_job.json")
    return None


@pytest.fixture
def fireworks(monkeypatch: Any) -> tuple[FireworksProvider, Captured]:
    captured = capture(monkeypatch, fireworks_api)
    return FireworksProvider(api_key="fw-fake", account_id="acme"), captured


def test_fireworks_dpo_sends_beta_in_loss_config_and_the_learning_rate_as_learning_rate(
    fireworks: tuple[FireworksProvider, Captured],
) -> None:
    provider, captured = fireworks
    remote = provider.create_job(
        model=FIREWORKS_MODEL,
        training_file="accounts/acme/datasets/train-0a1b2c3d",
        hyperparameters={"dpo_beta": 0.2, "learning_rate": 1e-4, "n_epochs": 2},
        metadata=TAG,
        method="dpo",
    )

    (body,) = captured.bodies("POST", "/dpoJobs")
    assert body["lossConfig"] == {"method": "DPO", "dpo": {"beta": 0.2}}
    assert body["trainingConfig"]["learningRate"] == 1e-4
    assert body["trainingConfig"]["epochs"] == 2
    assert remote.id == "dpoJobs/curator-0a1b2c3d4e5f"


def test_a_409_already_exists_on_a_retried_create_carries_on_with_the_existing_job(
    fireworks: tuple[FireworksProvider, Captured],
) -> None:
    provider, captured = fireworks
    remote = provider.create_job(
        model=FIREWORKS_MODEL,
        training_file="accounts/acme/datasets/train-0a1b2c3d",
        metadata=TAG,
    )

    assert remote.id == "supervisedFineTuningJobs/curator-0a1b2c3d4e5f"
    assert remote.status == "running"
    assert len(captured.bodies("POST", "/supervisedFineTuningJobs")) == 1


@pytest.mark.parametrize(
    ("hyperparameters", "seed", "expected"),
    [
        ({}, 7, "Fireworks AI fine-tuning jobs take no seed"),
        ({"dpo_beta": 0.5}, None, "Fireworks AI: DPO beta must be > 0 and < 0.5 (asked 0.5)"),
        ({"dpo_beta": 0.0}, None, "Fireworks AI: DPO beta must be > 0 and < 0.5 (asked 0)"),
    ],
)
def test_fireworks_refuses_what_its_api_has_no_place_for(
    fireworks: tuple[FireworksProvider, Captured],
    hyperparameters: dict[str, Any],
    seed: int | None,
    expected: str,
) -> None:
    provider, captured = fireworks
    problems = provider.check_settings(
        model=FIREWORKS_MODEL,
        hyperparameters=hyperparameters,
        method="dpo",
        validation=False,
        seed=seed,
    )
    assert len(problems) == 1 and problems[0].startswith(expected)
    assert captured.requests == []


@pytest.fixture
def version(dataset: Any) -> DatasetVersion:
    return built_version(dataset, train=12, validation=3)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "hyperparameters", "seed", "expected"),
    [
        (
            "together",
            {"batch_size": 2},
            None,
            "Requested batch size of 2 is lower that the minimum allowed value of 8",
        ),
        ("together", {"n_epochs": 30}, None, "trains for at most 20 epochs (asked 30)"),
        (
            "together",
            {"learning_rate_multiplier": 2},
            None,
            "takes an absolute learning rate, not OpenAI's learning-rate multiplier",
        ),
        ("fireworks", {}, 7, "fine-tuning jobs take no seed"),
    ],
)
def test_a_launch_with_a_setting_the_provider_refuses_is_refused_before_any_job_exists(
    hosted: SimulatorServer,  # noqa: F811
    version: DatasetVersion,
    provider: str,
    hyperparameters: dict[str, Any],
    seed: int | None,
    expected: str,
) -> None:
    with pytest.raises(LaunchError) as caught:
        create_finetune_job(
            version=version,
            provider=provider,
            base_model=MODELS[provider],
            hyperparameters=hyperparameters,
            seed=seed,
            user=None,
            enqueue=False,
        )

    assert any(expected in problem for problem in caught.value.problems), caught.value.problems
    assert FineTuneJob.objects.count() == 0
    assert [n for n, _ in hosted.state.request_log if n.endswith("jobs.create")] == []


@pytest.mark.django_db
def test_together_auto_epochs_are_estimated_at_togethers_default_of_one(
    hosted: SimulatorServer,  # noqa: F811
    version: DatasetVersion,
) -> None:
    job = create_finetune_job(
        version=version,
        provider="together",
        base_model=MODELS["together"],
        user=None,
        enqueue=False,
    )
    assert job.estimated_epochs == 1


@pytest.mark.django_db
def test_retry_does_not_resend_what_the_provider_refused(admin_user: Any) -> None:
    job = FineTuneJobFactory(
        status=JobStatus.FAILED,
        error="Together AI: Requested batch size of 2 is lower that the minimum allowed value "
        "of 8.",
        error_code="invalid_settings",
    )

    assert not job.can_retry
    assert not retry_finetune(job=job, user=admin_user)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


@pytest.mark.django_db
def test_the_retry_button_says_why_a_refused_job_is_not_sent_again(
    admin_user: Any, dataset: Any
) -> None:
    job = FineTuneJobFactory(
        dataset=dataset,
        status=JobStatus.FAILED,
        error="Together AI: Requested batch size of 2 is lower that the minimum allowed value "
        "of 8.",
        error_code="invalid_settings",
    )
    client = Client()
    client.force_login(admin_user)

    response = client.post(reverse("finetune_retry", args=[job.dataset.slug, job.pk]), follow=True)

    text = response.content.decode()
    assert "a retry would send it unchanged" in text
    assert "minimum allowed value of 8" in text
    assert FineTuneJob.objects.get(pk=job.pk).status == JobStatus.FAILED
