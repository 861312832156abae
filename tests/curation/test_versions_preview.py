"""The version preview: token counts, epochs and cost estimates."""

from __future__ import annotations

import pytest

from curation.models import (
    TrainingPrice,
    training_epochs,
)
from curation.services.versions.preview import (
    normalize_filter,
    preview_version,
    system_prompt_tokens,
)
from tests.curation.version_helpers import approved

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("examples", "epochs"),
    [
        (0, 0),
        (1, 25),
        (10, 10),
        (33, 4),
        (34, 3),
        (5000, 3),
        (8333, 3),
        (8334, 2),
        (12_500, 2),
        (12_501, 1),
        (1_000_000, 1),
    ],
)
def test_epochs_follow_the_cookbook_heuristic(examples, epochs):
    assert training_epochs(examples) == epochs


def test_preview_counts_tokens_and_costs(dataset):
    dataset.system_prompt = "Be brief."
    dataset.save()
    approved(dataset, 8, token_count=1000, assistant_tokens=400)
    approved(dataset, 2, token_count=100_000, assistant_tokens=50_000, flags=["no_system_message"])
    assert (
        TrainingPrice.objects.seeded().filter(provider="openai").exists()
    )  # the settings' defaults
    TrainingPrice.objects.create(
        provider="acme", model="tiny", price_per_million="2.00", token_limit=2000
    )
    preview = preview_version(
        dataset=dataset, filter=normalize_filter(), validation_fraction=0, seed=0
    )
    prompt_tokens = system_prompt_tokens("Be brief.")
    assert prompt_tokens > 0 and preview.prompt_tokens == prompt_tokens and preview.prepended == 2
    assert (preview.examples, preview.train, preview.validation) == (10, 10, 0)
    assert preview.total_tokens == 8 * 1000 + 2 * (100_000 + prompt_tokens)
    assert preview.assistant_tokens == 8 * 400 + 2 * 50_000
    estimate = next(e for e in preview.estimates if e["price"].model == "tiny")
    # 10 examples: ceil(100 / 10) = 10 epochs; the long ones are billed at the 2000 limit.
    assert estimate["epochs"] == 10
    assert estimate["billed_tokens"] == 10 * (8 * 1000 + 2 * 2000)
    assert str(estimate["cost"]) == "0.24"
