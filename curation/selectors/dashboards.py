"""The numbers of the dataset overview and the review stats page: conversations per status,
review progress, score and token histograms, agreement (Krippendorff's alpha) and per
reviewer statistics. Past DASHBOARD_EXACT_LIMIT conversations they come from estimates and
bounded samples, so a page view costs the same at any dataset size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q

from curation.agreement import krippendorff_alpha, pairwise_agreement, units_from_reviews
from curation.models import (
    SCORE_RANGE,
    Adjudication,
    AdjudicationStatus,
    Conversation,
    ConversationStatus,
    Dataset,
    Decision,
    PiiFinding,
    Review,
)
from curation.pagination import estimate_rows
from curation.selectors.review_queue import REVIEWABLE
from curation.token_count import TOKEN_BUCKETS


class Median(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


# Past this many conversations (the planner's estimate) the dashboard stops counting rows on
# every view: counts come from PostgreSQL's estimates ("about"), and agreement and score
# histograms from the latest reviews (a bounded sample), so a page view costs the same at
# 1M conversations as at 10k.
DASHBOARD_EXACT_LIMIT = 200_000
AGREEMENT_SAMPLE = 2_000  # conversations with two or more reviews, the latest ones
SCORE_SAMPLE = 10_000  # reviews, the latest ones


def is_large_dataset(dataset: Dataset) -> bool:
    return estimate_rows(dataset.conversations.all()) > DASHBOARD_EXACT_LIMIT


def status_counts(dataset: Dataset) -> dict[str, Any]:
    """Conversations per status and in total, for the dashboard; PostgreSQL's estimates for a
    large dataset ("estimated": True), exact counts otherwise."""
    conversations = dataset.conversations.all()
    if is_large_dataset(dataset):
        counts: dict[str, Any] = {
            status.value: estimate_rows(conversations.filter(status=status.value))
            for status in ConversationStatus
        }
        counts["total"] = sum(counts.values())
        counts["estimated"] = True
        return counts
    counts = conversations.aggregate(
        total=Count("id"),
        **{
            status.value: Count("id", filter=Q(status=status.value))
            for status in ConversationStatus
        },
    )
    counts["estimated"] = False
    return counts


def review_progress(dataset: Dataset) -> dict[str, Any]:
    decided_statuses = [ConversationStatus.APPROVED, ConversationStatus.REJECTED]
    if is_large_dataset(dataset):
        conversations = dataset.conversations.all()
        counts = {
            "reviewable": estimate_rows(conversations.filter(status__in=REVIEWABLE)),
            "decided": estimate_rows(conversations.filter(status__in=decided_statuses)),
        }
        reviews = estimate_rows(Review.objects.filter(dataset=dataset))
        estimated = True
    else:
        counts = dataset.conversations.aggregate(
            reviewable=Count("id", filter=Q(status__in=REVIEWABLE)),
            decided=Count("id", filter=Q(status__in=decided_statuses)),
        )
        reviews = Review.objects.filter(dataset=dataset).count()
        estimated = False
    reviewable = counts["reviewable"]
    return {
        **counts,
        "estimated": estimated,
        "reviews": reviews,
        "conflicts": Adjudication.objects.filter(
            dataset=dataset, status=AdjudicationStatus.OPEN
        ).count(),
        "percent": round(100 * counts["decided"] / reviewable) if reviewable else 0,
    }


def score_histograms(dataset: Dataset, *, sample: int | None = None) -> list[dict[str, Any]]:
    """Per rubric criterion, how many reviews gave 1, 2, 3, 4 and 5 (over the latest
    `sample` reviews when given: a large dataset's dashboard)."""
    table = Review._meta.db_table
    reviews = (
        f"(SELECT scores FROM {table} WHERE dataset_id = %s ORDER BY id DESC LIMIT %s)"  # noqa: S608
        if sample
        else f"(SELECT scores FROM {table} WHERE dataset_id = %s)"  # noqa: S608
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.key, s.value, count(*) FROM {reviews} r, "  # noqa: S608
            "jsonb_each_text(r.scores) s GROUP BY 1, 2",
            [dataset.pk, sample] if sample else [dataset.pk],
        )
        rows = cursor.fetchall()
    counts: dict[str, list[int]] = {criterion["key"]: [0] * 5 for criterion in dataset.criteria}
    for key, value, count in rows:
        if key in counts and value in {"1", "2", "3", "4", "5"}:
            counts[key][int(value) - 1] = count
    return [
        {"key": criterion["key"], "name": criterion["name"], "counts": counts[criterion["key"]]}
        for criterion in dataset.criteria
    ]


def _sample_percent(rows: int) -> float:
    """TABLESAMPLE SYSTEM percentage that reads about ROW_SAMPLE of `rows` rows."""
    return min(100.0, 100.0 * ROW_SAMPLE / max(rows, 1))


# Rows a large dataset's token and PII charts read (a TABLESAMPLE of pages), scaled up.
ROW_SAMPLE = 10_000


def token_histogram(dataset: Dataset, *, large: bool = False) -> dict[str, list[Any]]:
    """Conversations per token-count bucket; for a large dataset, estimated from a sample of
    the table's pages ("estimated": True)."""
    edges = list(TOKEN_BUCKETS)
    table = Conversation._meta.db_table
    percent = _sample_percent(estimate_rows(dataset.conversations.all())) if large else 100.0
    sample = f"TABLESAMPLE SYSTEM ({percent:.4f})" if percent < 100 else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT width_bucket(token_count, %s::int[]), count(*) FROM {table} {sample} "  # noqa: S608
            "WHERE dataset_id = %s GROUP BY 1",
            [edges[1:], dataset.pk],
        )
        found = {bucket: round(count * 100 / percent) for bucket, count in cursor.fetchall()}
    labels = [f"<{_short(edge)}" for edge in edges[1:]] + [f"≥{_short(edges[-1])}"]
    return {"labels": labels, "counts": [found.get(bucket, 0) for bucket in range(len(edges))]}


def _short(number: int) -> str:
    return f"{number // 1024}k" if number >= 1024 else str(number)


def _multi_reviewed(
    dataset: Dataset, *, sample: int | None = None
) -> list[tuple[int, int, dict[str, Any], str]]:
    """Reviews of conversations with two or more of them; with `sample`, of the latest
    `sample` such conversations only (agreement is then an estimate over them)."""
    reviews = Review.objects.filter(dataset=dataset, conversation__review_count__gte=2)
    if sample:
        latest = (
            Conversation.objects.filter(dataset=dataset, review_count__gte=2)
            .order_by("-id")
            .values("id")[:sample]
        )
        reviews = Review.objects.filter(dataset=dataset, conversation_id__in=latest)
    return list(reviews.values_list("conversation_id", "reviewer_id", "scores", "decision"))


def agreement(
    dataset: Dataset, rows: list[tuple[int, int, dict[str, Any], str]] | None = None
) -> dict[str, Any]:
    """Krippendorff's alpha per criterion (ordinal) and on the decision (nominal), over the
    conversations with two or more reviews; None where alpha is undefined."""
    sample_units = None
    if rows is None:
        sample_units = AGREEMENT_SAMPLE if is_large_dataset(dataset) else None
        rows = _multi_reviewed(dataset, sample=sample_units)
    per_criterion: dict[str, dict[int, dict[int, int]]] = {c["key"]: {} for c in dataset.criteria}
    decisions: dict[int, dict[int, str]] = {}
    for conversation_id, reviewer_id, scores, decision in rows:
        decisions.setdefault(reviewer_id, {})[conversation_id] = decision
        for key, value in scores.items():
            if key in per_criterion and isinstance(value, int):
                per_criterion[key].setdefault(reviewer_id, {})[conversation_id] = value
    criteria = []
    sampled = sample_units is not None and len({row[0] for row in rows}) >= sample_units
    for criterion in dataset.criteria:
        by_reviewer = per_criterion[criterion["key"]]
        alpha = (
            krippendorff_alpha(units_from_reviews(by_reviewer), level="ordinal")
            if by_reviewer
            else None
        )
        criteria.append({"key": criterion["key"], "name": criterion["name"], "alpha": alpha})
    return {
        "criteria": criteria,
        "decision": krippendorff_alpha(units_from_reviews(decisions), level="nominal")
        if decisions
        else None,
        "units": len({row[0] for row in rows}),
        # True when only the latest AGREEMENT_SAMPLE conversations were looked at.
        "sampled": sampled,
    }


def reviewer_stats(dataset: Dataset) -> list[dict[str, Any]]:
    """Per reviewer: reviews done, approval rate, median seconds per review, and how often
    they agree with the other reviewers of the same conversations (decision, and exact
    score per criterion averaged over criteria)."""
    rows = list(
        Review.objects.filter(dataset=dataset)
        .values("reviewer_id", "reviewer__username")
        .annotate(
            reviews=Count("id"),
            approvals=Count("id", filter=Q(decision=Decision.APPROVE)),
            median_seconds=Median("seconds"),
        )
        .order_by("reviewer__username")
    )
    shared = _multi_reviewed(
        dataset, sample=AGREEMENT_SAMPLE if is_large_dataset(dataset) else None
    )
    decisions: dict[int, dict[int, str]] = {}
    per_criterion: dict[str, dict[int, dict[int, int]]] = {}
    for conversation_id, reviewer_id, scores, decision in shared:
        decisions.setdefault(reviewer_id, {})[conversation_id] = decision
        for key, value in scores.items():
            per_criterion.setdefault(key, {}).setdefault(reviewer_id, {})[conversation_id] = value
    decision_agreement = pairwise_agreement(decisions)
    score_agreement: dict[int, list[float]] = {}
    for by_reviewer in per_criterion.values():
        for reviewer_id, value in pairwise_agreement(by_reviewer).items():
            if value is not None:
                score_agreement.setdefault(reviewer_id, []).append(value)
    return [
        {
            "username": row["reviewer__username"],
            "reviews": row["reviews"],
            "approval_rate": row["approvals"] / row["reviews"] if row["reviews"] else None,
            "median_seconds": row["median_seconds"],
            "decision_agreement": decision_agreement.get(row["reviewer_id"]),
            "score_agreement": (
                sum(score_agreement[row["reviewer_id"]]) / len(score_agreement[row["reviewer_id"]])
                if score_agreement.get(row["reviewer_id"])
                else None
            ),
        }
        for row in rows
    ]


def pii_counts(dataset: Dataset, *, large: bool = False) -> Sequence[Mapping[str, Any]]:
    """Findings per entity type; for a large dataset, estimated from a sample of pages."""
    if large:
        findings = PiiFinding._meta.db_table
        percent = _sample_percent(estimate_rows(PiiFinding.objects.all()))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT f.entity_type, count(*) FROM {findings} f "  # noqa: S608
                f"TABLESAMPLE SYSTEM ({percent:.4f}) "
                f"JOIN {Conversation._meta.db_table} c ON c.id = f.conversation_id "
                "WHERE c.dataset_id = %s GROUP BY 1",
                [dataset.pk],
            )
            found = [
                {"entity_type": entity, "count": round(count * 100 / percent)}
                for entity, count in cursor.fetchall()
            ]
        return sorted(found, key=lambda row: (-row["count"], row["entity_type"]))
    return list(
        PiiFinding.objects.filter(conversation__dataset=dataset)
        .values("entity_type")
        .annotate(count=Count("id"))
        .order_by("-count", "entity_type")
    )


def review_dashboard(dataset: Dataset) -> dict[str, Any]:
    """What the dataset overview shows of the review workflow, charts' data included."""
    large = is_large_dataset(dataset)
    histograms = score_histograms(dataset, sample=SCORE_SAMPLE if large else None)
    tokens = token_histogram(dataset, large=large)
    return {
        "progress": review_progress(dataset),
        "agreement": agreement(dataset),
        "pii_counts": pii_counts(dataset, large=large),
        "score_histograms": histograms,
        "token_histogram": tokens,
        "token_rows": list(zip(tokens["labels"], tokens["counts"], strict=True)),
        "chart_scores": {
            "labels": [str(n) for n in range(1, 6)],
            "datasets": [{"label": h["name"], "data": h["counts"]} for h in histograms],
        },
        "chart_tokens": {
            "labels": tokens["labels"],
            "datasets": [{"label": "Conversations", "data": tokens["counts"]}],
        },
    }


def review_stats(dataset: Dataset) -> dict[str, Any]:
    """What the review stats page shows: progress, agreement, reviewers and score charts."""
    histograms = score_histograms(
        dataset, sample=SCORE_SAMPLE if is_large_dataset(dataset) else None
    )
    return {
        "progress": review_progress(dataset),
        "agreement": agreement(dataset),
        "reviewers": reviewer_stats(dataset),
        "histograms": histograms,
        "score_labels": list(SCORE_RANGE),
        "chart_scores": {
            "labels": [str(n) for n in SCORE_RANGE],
            "datasets": [{"label": h["name"], "data": h["counts"]} for h in histograms],
        },
    }
