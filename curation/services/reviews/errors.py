"""The one error the review services raise for an action a person may not take."""

from __future__ import annotations


class ReviewError(Exception):
    """A review action that cannot be done; the message is shown to the reviewer."""
