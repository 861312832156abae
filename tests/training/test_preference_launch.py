"""The launch page offers DPO only for preference versions and explains beta."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tests.factories import built_version
from tests.training.test_finetune_views import MODEL, simulator_settings, web  # noqa: F401
from tests.training.test_preference_training import preference_version
from training.models import FineTuneJob

pytestmark = pytest.mark.django_db


def launch(version: Any, method: str, **extra: str) -> dict[str, Any]:
    return {
        "version": version.number,
        "provider": "simulator",
        "base_model": MODEL,
        "method": method,
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        **extra,
    }


def test_dpo_is_not_offered_without_a_preference_version(dataset: Any, admin_user: Any) -> None:
    built_version(dataset)
    html = web(admin_user).get(reverse("finetune_launch", args=[dataset.slug])).content.decode()
    assert 'value="dpo"' not in html


def test_dpo_launches_on_a_preference_version_with_beta_and_is_refused_on_sft(
    dataset: Any, admin_user: Any, reviewer: Any
) -> None:
    sft = built_version(dataset)
    preference = preference_version(dataset)
    url = reverse("finetune_launch", args=[dataset.slug])
    client = web(admin_user)
    html = client.get(url).content.decode()
    assert 'value="dpo"' in html and "Beta sets how strongly" in html
    assert "(preference pairs)" in html
    refused = client.post(url, launch(sft, "dpo")).content.decode()
    assert "DPO trains on a preference version" in refused
    refused = client.post(url, launch(preference, "supervised")).content.decode()
    assert "train it with the DPO method" in refused
    assert not FineTuneJob.objects.exists()
    assert web(reviewer).post(url, launch(preference, "dpo")).status_code == 403
    response = client.post(url, launch(preference, "dpo", dpo_beta="0.3"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    job = FineTuneJob.objects.get()
    assert (job.method, job.hyperparameters["dpo_beta"], job.version_id) == (
        "dpo",
        0.3,
        preference.pk,
    )
