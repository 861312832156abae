"""Near-duplicate clusters as the duplicates page shows them: largest first, a few members
each."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Min

from curation.models import Conversation, Dataset

CLUSTERS_PER_PAGE = 20
# Members shown per cluster; "keep one" acts on the whole cluster.
MEMBERS_SHOWN = 8


def clusters_with_members(*, dataset: Dataset, page: Any) -> Page:
    """The requested page of the dataset's clusters, each row with `members`."""
    clusters = (
        dataset.conversations.in_cluster()
        .values("near_dup_cluster")
        .annotate(size=Count("id"), first=Min("id"))
        .order_by("-size", "near_dup_cluster")
    )
    found = Paginator(clusters, CLUSTERS_PER_PAGE).get_page(page)
    ids = [row["near_dup_cluster"] for row in found]
    members: dict[int | None, list[Conversation]] = {}
    for conversation in (
        dataset.conversations.filter(near_dup_cluster__in=ids)
        .only(
            "id",
            "original",
            "redacted",
            "status",
            "flags",
            "quality_score",
            "token_count",
            "near_dup_cluster",
            "dataset_id",
        )
        .order_by("near_dup_cluster", "id")
    ):
        conversation.dataset = dataset
        group = members.setdefault(conversation.near_dup_cluster, [])
        if len(group) < MEMBERS_SHOWN:
            group.append(conversation)
    for row in found:
        row["members"] = members.get(row["near_dup_cluster"], [])
    return found


def cluster_member(
    *, dataset: Dataset, cluster: int, conversation_id: int | None
) -> Conversation | None:
    return dataset.conversations.filter(pk=conversation_id or 0, near_dup_cluster=cluster).first()
