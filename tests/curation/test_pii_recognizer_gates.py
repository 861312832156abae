"""Regex recognizers skipped on texts that cannot match them: each gate is implied by every
pattern of its recognizer, and values that need no digit still pass theirs."""

from __future__ import annotations

import hashlib
import json

import pytest

from curation.pii.analyzer import _PRESIDIO_GATES, PiiEngine
from curation.pii.config import PiiConfig
from curation.pii.engine import DEFAULT_MODEL, get_engine


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_engine(DEFAULT_MODEL)


# The patterns of presidio-analyzer 2.2.366's gated recognizers, which their gates in
# analyzer._PRESIDIO_GATES were derived from (each gate is implied by every pattern).
GATED_PATTERNS_SHA256 = "dfc8663b28153d6cfee6fd606c47c7df037fab3cdc2193c4345cc97f534634cb"


def test_presidio_patterns_behind_gates_are_the_ones_the_gates_were_checked_against(
    engine: PiiEngine,
) -> None:
    patterns = {
        type(recognizer).__name__: [pattern.regex for pattern in recognizer.patterns]
        for recognizer in engine.registry.recognizers
        if type(recognizer).__name__ in _PRESIDIO_GATES
        and type(recognizer).__module__.startswith("presidio_analyzer")
    }
    assert len(patterns) == 16
    digest = hashlib.sha256(json.dumps(patterns, sort_keys=True).encode()).hexdigest()
    assert digest == GATED_PATTERNS_SHA256, "a gated pattern changed: check its gate again"


def test_a_mac_address_without_a_digit_passes_its_gate(engine: PiiEngine) -> None:
    config = PiiConfig(entities=["MAC_ADDRESS"])
    found = engine.analyze_texts(["The laptop's MAC is aa:bb:cc:dd:ee:ff now."], config)[0]
    assert [(d.entity_type, d.text) for d in found] == [("MAC_ADDRESS", "aa:bb:cc:dd:ee:ff")]


def test_a_national_insurance_number_is_still_found_behind_its_digit_gate(
    engine: PiiEngine,
) -> None:
    found = engine.analyze_texts(
        ["My NI number is AB 12 34 56 C, national insurance."], PiiConfig()
    )[0]
    assert "UK_NINO" in {d.entity_type for d in found}
