"""Recognizers that fill the gaps of Presidio's defaults, by entity family: persons, addresses,
numbers (phones, cards, account ids), dates (ages, dates of birth), on the building blocks in
``base``.

Everything here is a plain regular expression (the ``regex`` module, for Unicode letter
classes) run once per text, so the cost stays far below the spaCy pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from presidio_analyzer import LocalRecognizer
from presidio_analyzer.predefined_recognizers import UkNinoRecognizer

from curation.pii.recognizers.addresses import (
    StreetAddressRecognizer,
    location_recognizer,
    zip_code_recognizer,
)
from curation.pii.recognizers.base import OfflineEmailRecognizer
from curation.pii.recognizers.dates import age_recognizer, date_of_birth_recognizer
from curation.pii.recognizers.numbers import (
    account_id_recognizer,
    card_number_recognizer,
    phone_recognizer,
)
from curation.pii.recognizers.persons import NameListRecognizer, person_recognizer


@dataclass(frozen=True, slots=True)
class CuratorRecognizers:
    """The recognizers this module adds, and the Presidio classes they replace."""

    added: list[LocalRecognizer] = field(default_factory=list)
    replaces: frozenset[str] = frozenset()


def curator_recognizers() -> CuratorRecognizers:
    """Build this module's recognizers (one set per engine; they hold compiled patterns)."""
    return CuratorRecognizers(
        added=[
            OfflineEmailRecognizer(),
            phone_recognizer(),
            card_number_recognizer(),
            person_recognizer(),
            NameListRecognizer(),
            StreetAddressRecognizer(),
            zip_code_recognizer(),
            age_recognizer(),
            location_recognizer(),
            account_id_recognizer(),
            date_of_birth_recognizer(),
            UkNinoRecognizer(),
        ],
        replaces=frozenset({"EmailRecognizer", "PhoneRecognizer"}),
    )
