"""Which conversations a list shows: the conversation-list filter (also used by bulk
decisions and the `review_bulk` CLI), its sort orders, and keyset pages over the result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db.models import Exists, F, FloatField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from curation.models import (
    FLAG_LABELS,
    Conversation,
    ConversationQuerySet,
    ConversationStatus,
    Dataset,
    Review,
)
from curation.pagination import KeysetPage, MatchCount, count_matches, keyset_page, rows_before
from curation.params import parse_float, parse_int, parse_text

SORTS = {
    "newest": ("-id", "Newest first"),
    "oldest": ("id", "Oldest first"),
    "quality": ("quality_score", "Lowest quality first"),
    "-quality": ("-quality_score", "Highest quality first"),
    "score": ("score_avg", "Lowest review score first"),
    "-score": ("-score_avg", "Highest review score first"),
    "tokens": ("token_count", "Fewest tokens first"),
    "-tokens": ("-token_count", "Most tokens first"),
}


def _float(value: str | None) -> float | None:
    return parse_float(value)


# Feedback that came with ingested production conversations (kept in their metadata).
FEEDBACK_FILTERS: dict[str, tuple[str, Q]] = {
    "negative": (
        "Negative (thumbs down or score ≤ 2)",
        Q(metadata__feedback="down") | Q(metadata__score__lte=2),
    ),
    "down": ("Thumbs down", Q(metadata__feedback="down")),
    "low_score": ("Score ≤ 2", Q(metadata__score__lte=2)),
    "up": ("Thumbs up", Q(metadata__feedback="up")),
    "rated": ("Any feedback", Q(metadata__has_key="feedback") | Q(metadata__has_key="score")),
}


@dataclass
class ConversationFilter:
    """The conversation list's filters, parsed from a query string and applied to a queryset.
    The list, the bulk-action confirmation and the CLI all filter through this."""

    status: str = ""
    flag: str = ""
    batch: int | None = None
    reviewer: str = ""
    score_min: float | None = None
    score_max: float | None = None
    quality_min: float | None = None
    quality_max: float | None = None
    cluster: int | None = None
    q: str = ""
    # Production feedback of ingested conversations (see FEEDBACK_FILTERS).
    feedback: str = ""
    sort: str = "newest"
    applied: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ConversationFilter:
        found = cls()
        get = params.get
        if get("status") in ConversationStatus.values:
            found.status = params["status"]
        if get("flag") in {"passing", "any", "none", *FLAG_LABELS}:
            found.flag = params["flag"]
        found.batch = parse_int(get("batch"))
        found.reviewer = parse_text(get("reviewer"), max_length=150)
        found.score_min, found.score_max = _float(get("score_min")), _float(get("score_max"))
        found.quality_min, found.quality_max = (
            _float(get("quality_min")),
            _float(get("quality_max")),
        )
        found.cluster = parse_int(get("cluster"))
        found.q = parse_text(get("q"), max_length=200)
        if get("feedback") in FEEDBACK_FILTERS:
            found.feedback = params["feedback"]
        if get("sort") in SORTS:
            found.sort = params["sort"]
        for name in (
            "status",
            "flag",
            "batch",
            "reviewer",
            "score_min",
            "score_max",
            "quality_min",
            "quality_max",
            "cluster",
            "q",
            "feedback",
        ):
            value = getattr(found, name)
            if value not in (None, ""):
                found.applied[name] = str(value)
        if found.sort != "newest":
            found.applied["sort"] = found.sort
        return found

    def apply(self, conversations: ConversationQuerySet) -> ConversationQuerySet:
        if self.status:
            conversations = conversations.filter(status=self.status)
        if self.flag == "passing":
            conversations = conversations.passing()
        elif self.flag == "any":
            conversations = conversations.exclude(flags=[])
        elif self.flag == "none":
            conversations = conversations.filter(flags=[])
        elif self.flag:
            conversations = conversations.with_flag(self.flag)
        if self.batch is not None:
            conversations = conversations.filter(batch_id=self.batch)
        if self.reviewer:
            conversations = conversations.filter(
                Exists(
                    Review.objects.filter(
                        conversation=OuterRef("pk"), reviewer__username=self.reviewer
                    )
                )
            )
        if self.score_min is not None:
            conversations = conversations.filter(score_avg__gte=self.score_min)
        if self.score_max is not None:
            conversations = conversations.filter(score_avg__lte=self.score_max)
        if self.quality_min is not None:
            conversations = conversations.filter(quality_score__gte=self.quality_min)
        if self.quality_max is not None:
            conversations = conversations.filter(quality_score__lte=self.quality_max)
        if self.cluster is not None:
            conversations = conversations.filter(near_dup_cluster=self.cluster)
        if self.q:
            conversations = conversations.search(self.q)
        if self.feedback:
            conversations = conversations.filter(FEEDBACK_FILTERS[self.feedback][1])
        return conversations

    @property
    def filters(self) -> dict[str, str]:
        """Applied filters without the sort order (what narrows the set)."""
        return {key: value for key, value in self.applied.items() if key != "sort"}

    def query(self, *, sort: bool = True) -> str:
        return urlencode(self.applied if sort else self.filters)

    def summary(self) -> list[tuple[str, str]]:
        """The applied filters as a person reads them: [("Status", "In review"), …]."""
        flags = {
            "passing": "Passing (no blocking flag)",
            "any": "Has any flag",
            "none": "No flag at all",
            **FLAG_LABELS,
        }
        shown: list[tuple[str, str]] = []
        if self.q:
            shown.append(("Search", f"“{self.q}”"))
        if self.status:
            shown.append(("Status", str(ConversationStatus(self.status).label)))
        if self.flag:
            shown.append(("Problems", flags.get(self.flag, self.flag)))
        if self.reviewer:
            shown.append(("Reviewed by", self.reviewer))
        for label, low, high in (
            ("Review score", self.score_min, self.score_max),
            ("Quality", self.quality_min, self.quality_max),
        ):
            if low is not None or high is not None:
                shown.append((label, _range_text(low, high)))
        if self.batch is not None:
            shown.append(("Import", f"#{self.batch}"))
        if self.cluster is not None:
            shown.append(("Duplicate cluster", str(self.cluster)))
        if self.feedback:
            shown.append(("Feedback", FEEDBACK_FILTERS[self.feedback][0]))
        return shown

    def describe(self) -> str:
        return (
            "; ".join(f"{label}: {value}" for label, value in self.summary()) or "all conversations"
        )


def _range_text(low: float | None, high: float | None) -> str:
    def number(value: float) -> str:
        return f"{value:g}"

    if low is not None and high is not None:
        return f"{number(low)} to {number(high)}"
    if low is not None:
        return f"at least {number(low)}"
    assert high is not None  # the caller shows a range only when one of its ends is set
    return f"at most {number(high)}"


# Rows a page of the conversation list shows.
PER_PAGE = 50
# Up to this many matches (counted exactly), a page reads them by id.
FEW_MATCHES = 1000

LIST_FIELDS = (
    "id",
    "status",
    "flags",
    "token_count",
    "assistant_tokens",
    "message_count",
    "original",
    "redacted",
    "batch_id",
    "source_line",
    "dataset_id",
    "quality_score",
    "score_avg",
    "review_count",
    "near_dup_cluster",
)


@dataclass
class ConversationPage:
    """One page of the conversation list and where it sits in the matching rows."""

    page: KeysetPage
    next_cursor: str
    matches: MatchCount
    first_row: int

    @property
    def last_row(self) -> int:
        return self.first_row + len(self.page) - 1 if self.first_row else 0


def conversation_page(
    *, dataset: Dataset, chosen: ConversationFilter, request: HttpRequest
) -> ConversationPage:
    """The page of `dataset`'s conversations matching `chosen` that the request's query
    (`after`/`before`, or `cursor`) asks for. Newest first pages by id; the other sorts page by
    (sort value, id) with a `cursor`."""
    conversations = chosen.apply(dataset.conversations.all()).only(*LIST_FIELDS)
    order = SORTS[chosen.sort][0]
    next_cursor = ""
    matches = count_matches(conversations)
    first_row = 0
    if matches.exact and matches.value <= FEW_MATCHES:
        # The planner, expecting more matches than there are (full-text phrases especially),
        # would walk the id index from the newest row and filter every row it meets: on a
        # million rows, half a second for a rare phrase. Naming the few ids makes it a lookup.
        conversations = conversations.filter(
            pk__in=list(conversations.values_list("pk", flat=True))
        )
    if order == "-id":
        page = keyset_page(conversations, request, per_page=PER_PAGE)
        if matches.exact and page.items:
            first_row = rows_before(conversations, page.items[0].pk) + 1
    else:
        page, next_cursor = sorted_page(
            conversations, request.GET.get("cursor", ""), order=order, per_page=PER_PAGE
        )
        if not request.GET.get("cursor") and page.items:
            first_row = 1
    whole = page.is_first and page.next_after is None and not next_cursor
    if whole and not matches.exact:
        # One page holds every match: the estimate (full-text ones can be far off) is moot.
        matches = MatchCount(len(page), True)
        first_row = 1 if page.items else 0
    for conversation in page:
        conversation.dataset = dataset
    return ConversationPage(page, next_cursor, matches, first_row)


def sorted_page(
    conversations: QuerySet[Conversation], cursor: str, *, order: str, per_page: int
) -> tuple[KeysetPage, str]:
    """Keyset pages over (sort value, id), forward only; `cursor` "VALUE:ID" continues after
    a row. Rows without a value (not scored yet) come last in either direction."""
    descending = order.startswith("-")
    name = order.lstrip("-")
    missing = -1e18 if descending else 1e18
    rows = conversations.annotate(
        sort_value=Coalesce(F(name), Value(missing), output_field=FloatField())
    )
    value, _, last_id = cursor.partition(":")
    sort_value, after_id = parse_float(value), parse_int(last_id)
    after = (sort_value, after_id) if sort_value is not None and after_id is not None else None
    if after is not None:
        if descending:
            rows = rows.filter(Q(sort_value__lt=after[0]) | Q(sort_value=after[0], id__lt=after[1]))
        else:
            rows = rows.filter(Q(sort_value__gt=after[0]) | Q(sort_value=after[0], id__gt=after[1]))
    rows = rows.order_by("-sort_value", "-id") if descending else rows.order_by("sort_value", "id")
    found = list(rows[: per_page + 1])
    items = found[:per_page]
    next_cursor = f"{items[-1].sort_value!r}:{items[-1].pk}" if len(found) > per_page else ""
    return KeysetPage(items, None, None, after is None), next_cursor


def bulk_targets(
    *, dataset: Dataset, chosen: ConversationFilter, selected: list[int]
) -> QuerySet[Conversation]:
    """What a bulk decision acts on: conversations in review matching the filter, narrowed
    to the rows ticked in the list when some are."""
    matching = chosen.apply(dataset.conversations.all()).filter(status=ConversationStatus.IN_REVIEW)
    return matching.filter(pk__in=selected) if selected else matching
