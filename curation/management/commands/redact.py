"""manage.py redact --dataset SLUG [--all] [--wait] [--json]

Starts a PII detection run. Without --wait it is queued for the `pii` workers; with --wait
it runs in this process, with the same code, and reports what it found.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from curation.management.operator import add_dataset_arguments, dataset_named
from curation.models import FindingDecision, JobStatus, PiiFinding
from curation.services.pii import runs as pii_service


class Command(BaseCommand):
    help = "Detect personal data in a dataset's conversations (those not yet scanned, or --all)."

    def add_arguments(self, parser: Any) -> None:
        add_dataset_arguments(parser)
        parser.add_argument(
            "--all",
            action="store_true",
            help="re-scan every conversation (after a settings change)",
        )
        parser.add_argument("--wait", action="store_true", help="run here and wait for the result")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = dataset_named(options["dataset"])
        run = pii_service.start_detection(
            dataset=dataset, rescan_all=options["all"], enqueue=not options["wait"]
        )
        if run is None:
            result: dict[str, Any] = {
                "analyzed": 0,
                "findings": 0,
                "redacted": 0,
                "status": "nothing to scan" if dataset.pii_detection else "PII detection is off",
            }
        elif not options["wait"]:
            result = {"run": run.pk, "status": run.status, "conversations": run.total}
        else:
            run = pii_service.run_detection_here(run=run)
            if run.status != JobStatus.SUCCEEDED:
                raise CommandError(run.error or f"detection run {run.pk} ended {run.status}")
            redacted = (
                PiiFinding.objects.filter(
                    conversation__pii_run=run, decision=FindingDecision.REDACT
                )
                .values("conversation_id")
                .distinct()
                .count()
            )
            result = {
                "run": run.pk,
                "analyzed": run.done,
                "findings": run.findings,
                "redacted": redacted,
            }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(", ".join(f"{key} {value}" for key, value in result.items()))
