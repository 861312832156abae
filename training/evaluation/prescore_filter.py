"""The judge pre-score as a conversation filter (``review_bulk --where 'judge<3'``).

Kept apart from the pre-scoring job so the command line imports no HTTP client for it.
"""

from __future__ import annotations

import re
from typing import TypeVar

from django.db.models import QuerySet

from curation.models import Conversation

_WHERE = re.compile(r"^\s*judge\s*(<=|>=|<|>|=)\s*([0-9]+(?:\.[0-9]+)?)\s*$")
# The caller's QuerySet class comes back, custom methods (`passing()`, …) and all.
Conversations = TypeVar("Conversations", bound=QuerySet[Conversation])

_LOOKUPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "=": "exact"}


def parse_judge_where(expression: str) -> tuple[str, float] | None:
    """``judge<3`` → ("lt", 3.0); None when the expression is not a judge condition."""
    match = _WHERE.match(expression)
    if not match:
        return None
    return _LOOKUPS[match.group(1)], float(match.group(2))


class PreScoreError(ValueError):
    """Pre-scoring cannot start, or a pre-score condition cannot be read."""


def filter_by_prescore(conversations: Conversations, expression: str) -> Conversations:
    """Conversations whose judge pre-score meets ``judge<3``-style ``expression``."""
    parsed = parse_judge_where(expression)
    if parsed is None:
        raise PreScoreError(f"{expression!r} is not a judge condition like 'judge<3'")
    lookup, value = parsed
    return conversations.filter(**{f"prescore__mean__{lookup}": value})
