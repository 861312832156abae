"""Timing and limits of the training worker, each overridable by a setting of the same name."""

from __future__ import annotations

from django.conf import settings

# The provider rules a version is checked against before anything is sent.
MIN_TRAIN_EXAMPLES = 10
MAX_FILE_BYTES = 512 * 1024**2

_DEFAULTS: dict[str, float] = {
    # Following a job: the first poll comes this soon, later ones back off to the maximum.
    "CURATOR_TRAINING_POLL_SECONDS": 5.0,
    "CURATOR_TRAINING_POLL_MAX_SECONDS": 60.0,
    # Transient provider failures: exponential backoff from the base, capped.
    "CURATOR_TRAINING_RETRY_SECONDS": 2.0,
    "CURATOR_TRAINING_RETRY_MAX_SECONDS": 300.0,
    # Attempts before giving up: while launching (upload, create), and while following,
    # where the remote job carries on regardless, so an outage is waited out longer.
    "CURATOR_TRAINING_MAX_ATTEMPTS": 6,
    "CURATOR_TRAINING_MAX_POLL_FAILURES": 30,
    # How long the worker waits for the provider to process an uploaded file.
    "CURATOR_TRAINING_FILE_WAIT_SECONDS": 600.0,
}


def value(name: str) -> float:
    return float(getattr(settings, name, _DEFAULTS[name]))


def poll_delay(polls: int) -> float:
    """Seconds until poll number ``polls + 1``: 5, 7.5, 11, … up to the maximum."""
    first = value("CURATOR_TRAINING_POLL_SECONDS")
    # The exponent is capped: a job followed for days must not overflow the float.
    return min(
        value("CURATOR_TRAINING_POLL_MAX_SECONDS"), first * 1.5 ** min(max(0, polls - 1), 64)
    )


def retry_delay(failures: int, retry_after: float | None) -> float:
    """Backoff after the ``failures``-th consecutive failure, never sooner than asked."""
    delay = min(
        value("CURATOR_TRAINING_RETRY_MAX_SECONDS"),
        value("CURATOR_TRAINING_RETRY_SECONDS") * 2 ** max(0, failures - 1),
    )
    if retry_after:
        delay = max(delay, min(retry_after, value("CURATOR_TRAINING_RETRY_MAX_SECONDS")))
    return delay
