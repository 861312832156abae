"""Drift with numbers: PSI and the two-sample KS statistic per feature (scipy's value), no
warning before the minimum sample, a random sample of the training file, redacted text on
the production side."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from curation.models import Conversation
from tests.factories import built_version
from tests.training.registry.test_feedback_drift import ingest, production_item
from training.registry.drift import (
    TOKEN_EDGES,
    _histogram,
    _training_examples,
    drift_report,
    population_stability,
    shift,
)
from training.registry.promotion import promote_model
from training.registry.stages import RegistrySettings

pytestmark = pytest.mark.django_db


def test_psi_is_the_textbook_sum_and_ks_is_scipys():
    production, training = [0.1, 0.4, 0.5], [0.3, 0.4, 0.3]
    expected = sum((p - t) * math.log(p / t) for p, t in zip(production, training, strict=True))
    assert population_stability(production, training) == pytest.approx(expected)
    a, b = [10, 20, 30, 300, 400], [12, 25, 31, 40, 45, 50]
    result = shift(a, b, TOKEN_EDGES)
    assert result["ks"] == pytest.approx(stats.ks_2samp(a, b).statistic)
    assert result["ks_p"] == pytest.approx(stats.ks_2samp(a, b).pvalue)
    assert result["psi"] == pytest.approx(
        population_stability(_histogram(a, TOKEN_EDGES), _histogram(b, TOKEN_EDGES))
    )


def test_one_conversation_never_warns(dataset, make_model, admin_user, token_for):
    promote_model(dataset=dataset, model=make_model("ft:prod"), user=admin_user)
    RegistrySettings.objects.create(dataset=dataset, novelty_threshold=0.1)
    ingest(dataset, token_for(admin_user, "ingest"), [production_item("Translate a poem?")])
    report = drift_report(dataset)
    assert report["novelty"] == 1.0 and report["warnings"] == []
    assert "wait for 50" in report["warnings_note"]


def test_the_training_side_is_a_random_sample_not_the_first_lines(dataset, settings, monkeypatch):
    version = built_version(dataset, train=60, validation=3)
    monkeypatch.setattr("training.registry.drift.MAX_TRAINING", 20)
    sample = _training_examples(version)
    totals = [int(e["messages"][1]["content"].split()[-1].rstrip("?")) for e in sample]
    assert len(sample) == 20 and max(totals) >= 20  # not just lines 0-19
    assert _training_examples(version) == sample  # the same file gives the same sample


def test_production_text_is_read_redacted(dataset, make_model, admin_user, token_for):
    promote_model(dataset=dataset, model=make_model("ft:prod"), user=admin_user)
    ingest(dataset, token_for(admin_user, "ingest"), [production_item("Call Jane on 555-0100")])
    conversation = Conversation.objects.get(dataset=dataset)
    redacted = [dict(m) for m in conversation.original]
    redacted[0]["content"] = "What is the total of invoice 3?"
    Conversation.objects.filter(pk=conversation.pk).update(redacted=redacted)
    # The redacted prompt is a training prompt: not novel; the original one would be.
    assert drift_report(dataset)["novelty"] == 0.0
