"""Ages and dates of birth: numbers and dates only where the words around them say so."""

from __future__ import annotations

from curation.pii.recognizers.base import RegexRecognizer, Rule

# ---------------------------------------------------------------------------------------------
# Ages


_MAX_AGE = 125


def _age_rule(name: str, pattern: str, score: float) -> Rule:
    def validate(value: str) -> float | None:
        return score if int(value) <= _MAX_AGE else None

    return Rule(name, pattern, score, validate=validate)


def age_recognizer() -> RegexRecognizer:
    """Ages written with years-old, y/o, "aged", "age of", "turned" or "I'm N"."""
    units_after = (
        r"(?![ \t]*(?:%|percent|degrees|°|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|km|"
        r"miles?|pages?|times|x\b|dollars?|euros?|pounds?|kg|lbs?|cm|m\b|\$|€|£))"
    )
    return RegexRecognizer(
        name="CuratorAgeRecognizer",
        entity="AGE",
        rules=[
            _age_rule(
                "years old",
                r"\b(?P<pii>\d{1,3})[ \t]*[\-\s]?[ \t]*(?i:years?|yrs?|yr)[ \t]*[\-\s]?[ \t]*"
                r"(?i:old|of[ \t]+age)\b",
                0.8,
            ),
            _age_rule("y/o", r"\b(?P<pii>\d{1,3})[ \t]*(?i:y/?o|y\.o\.?|yo)\b", 0.75),
            _age_rule(
                "aged",
                rf"\b(?i:aged?|age[ \t]*[:=]|age[ \t]+(?:is|of)|ages?[ \t]+of|at[ \t]+age)"
                rf"[ \t]*(?P<pii>\d{{1,3}})\b{units_after}",
                0.7,
            ),
            _age_rule(
                "turned",
                rf"\b(?i:turn(?:s|ed|ing)?|just[ \t]+turned|will[ \t]+be|celebrat\w+[ \t]+(?:my|his|"
                rf"her|their)?)[ \t]+(?P<pii>\d{{1,3}})\b(?![ \t]*(?:st|nd|rd|th)\b){units_after}"
                rf"(?![ \t]*[\-/:.,]\d)",
                0.6,
            ),
            _age_rule(
                "i am N",
                r"\b(?i:i'm|i\u2019m|i[ \t]+am|im|he's|she's|he[ \t]+is|she[ \t]+is|who[ \t]+is)[ \t]+"
                r"(?P<pii>\d{1,3})(?=[ \t]*(?:[,.!?;)\n]|$|(?i:and|but|years?|yrs?)\b))",
                0.6,
            ),
        ],
        context=["age", "old", "born", "birthday"],
        gate=r"\d",
    )


_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_FULL_DATE = (
    r"(?:\d{1,2}[./\-]\d{1,2}[./\-](?:19|20)?\d{2}|(?:19|20)\d{2}[./\-]\d{1,2}[./\-]\d{1,2}|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?(?i:{_MONTHS}),?[ \t]+(?:19|20)\d{{2}}|"
    rf"(?i:{_MONTHS})[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+(?:19|20)\d{{2}})"
)


def date_of_birth_recognizer() -> RegexRecognizer:
    """A full date (day, month and year) introduced as someone's birth date.

    Dates alone are not personal data (meetings, deadlines, history); "born on", "date of
    birth", "DOB" or "birthday is" before a full date make it one.
    """
    return RegexRecognizer(
        name="CuratorDateOfBirthRecognizer",
        entity="DATE_OF_BIRTH",
        rules=[
            Rule(
                "labelled birth date",
                r"\b(?i:date[ \t]+of[ \t]+birth|birth[ \t]?date|d\.?o\.?b\.?|born(?:[ \t]+on)?|"
                r"birthday(?:[ \t]+is)?|geburtsdatum|geboren(?:[ \t]+am)?|n[ée]e?[ \t]+le)"
                rf"[ \t]*(?:is|was|:|-)?[ \t]*(?P<pii>{_FULL_DATE})(?![\d])",
                0.8,
            )
        ],
        gate=r"\d{2}",
    )
