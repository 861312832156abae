"""`manage.py mark_lost_jobs`: mark lost jobs once, as the periodic RQ job does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from curation.services.lost_jobs import lost_jobs_mark


class Command(BaseCommand):
    help = (
        "Mark running jobs whose heartbeat stopped as failed (worker lost), once. "
        "Workers started with --with-scheduler do this every CURATOR_LOST_JOBS_INTERVAL seconds."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        marked = lost_jobs_mark()
        if not marked:
            self.stdout.write("No lost jobs.")
        for label, count in sorted(marked.items()):
            self.stdout.write(f"{label}: {count} marked lost")
