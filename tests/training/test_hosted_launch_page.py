"""The launch page with Together and Fireworks: their models from the price table, their
LoRA settings, "(simulated)" while their keys are unset, and a launch that keeps them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import FineTuneJobFactory, built_version
from tests.training.test_preference_training import preference_version
from training.models import FineTuneJob
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db

MODEL = "meta-llama/Llama-3.2-3B-Instruct"


@pytest.fixture
def hosted(simulator: SimulatorServer, settings: Any, monkeypatch: Any) -> SimulatorServer:
    for name in ("TOGETHER_API_KEY", "FIREWORKS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings.CURATOR_SIMULATOR_URL = simulator.base_url
    settings.CURATOR_TRAINING_PROVIDERS = [
        {"name": "together", "kind": "together", "api_key_env": "TOGETHER_API_KEY"},
        {"name": "fireworks", "kind": "fireworks", "api_key_env": "FIREWORKS_API_KEY"},
    ]
    return simulator


def test_the_page_offers_each_providers_models_and_lora_settings(
    hosted: SimulatorServer, dataset: Any, admin_user: Any
) -> None:
    built_version(dataset)
    client = Client()
    client.force_login(admin_user)

    html = client.get(reverse("finetune_launch", args=[dataset.slug])).content.decode()

    assert "Together AI (simulated)" in html and "Fireworks AI (simulated)" in html
    assert f'value="{MODEL}"' in html
    assert 'value="accounts/fireworks/models/llama-v3p2-3b-instruct"' in html
    assert 'id="hosted-settings"' in html and "TOGETHER_API_KEY" in html
    assert f"{hosted.url}/together" in html  # the check reached it there


def test_a_launch_keeps_the_lora_settings_and_the_method(
    hosted: SimulatorServer, dataset: Any, admin_user: Any
) -> None:
    version = preference_version(dataset)
    client = Client()
    client.force_login(admin_user)

    response = client.post(
        reverse("finetune_launch", args=[dataset.slug]),
        {
            "version": version.number,
            "provider": "together",
            "base_model": MODEL,
            "method": "dpo",
            "n_epochs": "2",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
            "hosted_learning_rate": "0.0001",
            "hosted_lora_rank": "16",
            "hosted_lora_alpha": "32",
            "dpo_beta": "0.1",
        },
    )

    job = FineTuneJob.objects.get()
    assert response.status_code == 302
    assert job.method == "dpo"
    assert job.hyperparameters["lora_rank"] == 16
    assert job.hyperparameters["learning_rate"] == 0.0001
    assert job.hyperparameters["dpo_beta"] == 0.1
    assert job.provider_label == "Together AI (simulated)"


def test_launch_again_keeps_the_together_settings(dataset: Any) -> None:
    job = FineTuneJobFactory(
        dataset=dataset,
        provider="together",
        provider_kind="together",
        method="dpo",
        hyperparameters={"n_epochs": 2, "lora_rank": 16, "learning_rate": 0.0001, "lora": False},
    )

    query = job.relaunch_query

    assert "hosted_lora_rank=16" in query and "hosted_learning_rate=0.0001" in query
    assert "full_training=on" in query and "method=dpo" in query
