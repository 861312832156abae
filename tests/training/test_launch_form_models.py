"""The launch form offers each provider's models under that provider (a grouped select that
works without JavaScript; forms.js then shows only the chosen provider's group), shows DPO
beta only for DPO, and the server refuses a model the chosen provider does not offer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import built_version
from tests.training.test_hosted_launch_page import MODEL, hosted  # noqa: F401
from training.models import FineTuneJob
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db


def test_base_models_are_grouped_under_the_provider_labels_the_script_filters_by(
    hosted: SimulatorServer,  # noqa: F811
    dataset: Any,
    admin_user: Any,
) -> None:
    built_version(dataset)
    client = Client()
    client.force_login(admin_user)

    html = client.get(reverse("finetune_launch", args=[dataset.slug])).content.decode()

    providers = re.findall(r'<option value="(?:together|fireworks)"[^>]*>([^<]+)</option>', html)
    groups = re.findall(r'<optgroup label="([^"]+)">', html)
    assert providers == groups
    assert [group.split(" (")[0] for group in groups] == ["Together AI", "Fireworks AI"]
    together = html.split(f'<optgroup label="{groups[0]}">')[1].split("</optgroup>")[0]
    assert f'value="{MODEL}"' in together
    assert "accounts/fireworks/" not in together
    assert "js/forms.js" in html


def test_dpo_beta_is_shown_only_while_dpo_is_the_method(
    hosted: SimulatorServer,  # noqa: F811
    dataset: Any,
    admin_user: Any,
) -> None:
    built_version(dataset)
    client = Client()
    client.force_login(admin_user)

    html = client.get(reverse("finetune_launch", args=[dataset.slug])).content.decode()

    assert 'class="field field-dpo_beta' in html
    assert (
        '.launch-form:has(select[name="method"] option:checked:not([value="dpo"])) '
        ".field-dpo_beta { display: none; }"
    ) in html


def test_a_model_of_another_provider_is_refused_naming_the_ones_offered(
    hosted: SimulatorServer,  # noqa: F811
    dataset: Any,
    admin_user: Any,
) -> None:
    version = built_version(dataset)
    client = Client()
    client.force_login(admin_user)

    response = client.post(
        reverse("finetune_launch", args=[dataset.slug]),
        {
            "version": version.number,
            "provider": "fireworks",
            "base_model": MODEL,
            "method": "supervised",
            "n_epochs": "auto",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
        },
    )

    text = response.content.decode()
    assert f"{MODEL} is not a base model Fireworks AI (simulated) offers" in text or (
        f"{MODEL} is not a base model Fireworks AI offers" in text
    )
    assert not FineTuneJob.objects.exists()
