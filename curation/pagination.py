"""Keyset pagination: stable and index-friendly at any depth, unlike OFFSET."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest

from curation.params import parse_int


@dataclass
class KeysetPage:
    items: list[Any]
    next_after: int | None
    prev_before: int | None
    is_first: bool

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _int_param(request: HttpRequest, name: str) -> int | None:
    return parse_int(request.GET.get(name, ""))


def keyset_page(queryset: QuerySet, request: HttpRequest, *, per_page: int = 50) -> KeysetPage:
    """Newest first by id. `?after=ID` pages older, `?before=ID` pages newer."""
    after = _int_param(request, "after")
    before = _int_param(request, "before")
    if before is not None:
        rows = list(queryset.filter(pk__gt=before).order_by("pk")[: per_page + 1])
        has_newer = len(rows) > per_page
        items = list(reversed(rows[:per_page]))
        # ?before=0 is the oldest page: nothing is older than it.
        next_after = items[-1].pk if items and before > 0 else None
        return KeysetPage(
            items, next_after, items[0].pk if items and has_newer else None, not has_newer
        )
    if after is not None:
        queryset = queryset.filter(pk__lt=after)
    rows = list(queryset.order_by("-pk")[: per_page + 1])
    items = rows[:per_page]
    next_after = items[-1].pk if len(rows) > per_page else None
    prev_before = items[0].pk if after is not None and items else None
    return KeysetPage(items, next_after, prev_before, after is None)


# Up to this many matching rows are counted exactly; past it the planner's estimate is shown
# as "about N", so a list over a million rows never counts them all per page view.
EXACT_COUNT_LIMIT = 10_000


@dataclass
class MatchCount:
    value: int
    exact: bool


def count_matches(queryset: QuerySet, *, limit: int = EXACT_COUNT_LIMIT) -> MatchCount:
    """How many rows `queryset` matches: exact up to `limit`, else PostgreSQL's estimate
    (never below `limit`, which is known to be exceeded). When the planner already expects
    more than twice `limit`, nothing is counted at all: on a million rows, counting the first
    10,001 of a common filter's matches costs more than the rest of the page."""
    estimate = estimate_rows(queryset)
    if estimate > 2 * limit:
        return MatchCount(estimate, False)
    # COUNT over a LIMITed subquery: the matching rows are read once, never joined back.
    counted = queryset.order_by().values("pk")[: limit + 1].count()
    if counted <= limit:
        return MatchCount(counted, True)
    return MatchCount(max(limit + 1, estimate), False)


def estimate_rows(queryset: QuerySet) -> int:
    """The planner's row estimate for `queryset` (EXPLAIN, nothing is read)."""
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def rows_before(queryset: QuerySet, first_pk: int | None) -> int:
    """Rows newer than `first_pk` (the position of a newest-first keyset page)."""
    if first_pk is None:
        return 0
    return queryset.filter(pk__gt=first_pk).count()
