"""Keyset pagination: stable and index-friendly at any depth, unlike OFFSET."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
        next_after = items[-1].pk if items else None
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
