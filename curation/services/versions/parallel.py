"""Cutting the selection into id ranges and exporting them in forked processes; the parts'
figures are merged, and the files do not depend on how many processes ran."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal

from django.conf import settings
from django.db import connection, connections
from django.db.models import QuerySet

from curation.models import Conversation
from curation.services.versions.export import CHUNK_SIZE, Part, export_part
from curation.services.versions.stats import Stats

LAST_ID = 2**63 - 1


def build_processes() -> int:
    configured = int(getattr(settings, "CURATOR_BUILD_PROCESSES", 0) or 0)
    return configured if configured > 0 else min(os.cpu_count() or 1, 8)


def plan_parts(
    conversations: QuerySet[Conversation], *, total: int, processes: int, folder: str
) -> list[Part]:
    """Contiguous id ranges of about equal size, one per process (one when serial)."""
    count = min(processes, math.ceil(total / CHUNK_SIZE))
    if count <= 1:
        return [Part(0, 0, LAST_ID, folder)]
    selected, params = conversations.values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT min(id), max(id) FROM (SELECT id, ntile(%s) OVER (ORDER BY id) AS tile "  # noqa: S608
            f"FROM ({selected}) AS selected) AS tiles GROUP BY tile ORDER BY 1",
            [count, *params],
        )
        bounds = cursor.fetchall()
    parts = [Part(index, first, last, folder) for index, (first, last) in enumerate(bounds)]
    # The ranges cover every id, so rows approved meanwhile fall in some part or in none.
    return [
        Part(
            part.index,
            0 if part.index == 0 else part.first_id,
            LAST_ID if part.index == len(parts) - 1 else parts[part.index + 1].first_id - 1,
            folder,
        )
        for part in parts
    ]


def _export_in_child(version_id: int, part: Part) -> Stats:
    return export_part(version_id=version_id, part=part)


def _child_start() -> None:
    # The build may run inside an RQ work horse, whose signal handlers a child must not run.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # Whatever database connection the fork copied belongs to the parent: dropped unused
    # (closing it would end the parent's session), so the child opens its own.
    for wrapper in connections.all(initialized_only=True):
        wrapper.connection = None


def export_parts(*, version_id: int, parts: list[Part]) -> Stats:
    """Export every part, in forked processes when there are several; their figures."""
    if len(parts) == 1:
        return export_part(version_id=version_id, part=parts[0])
    # Each child opens its own database connection; none may inherit the parent's.
    connections.close_all()
    pool = multiprocessing.get_context("fork").Pool(len(parts), initializer=_child_start)
    try:
        results = pool.starmap(_export_in_child, [(version_id, part) for part in parts])
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    stats = Stats()
    for result in results:
        stats.merge(result)
    return stats
