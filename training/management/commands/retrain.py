"""manage.py retrain --dataset SLUG --like JOB [--judge REF] [--wait] [--json]
manage.py retrain --scheduled   (for cron: start the weekly retrainings that are due)

A new version from everything approved, a fine-tune with the provider, base model and
settings of job JOB, then an evaluation of the new model and of production on the new
version and their comparison. Without --wait the steps run on the workers.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import Dataset, JobStatus
from training.models import FineTuneJob
from training.registry.retrain import (
    RetrainError,
    cli_summary,
    create_retrain,
    drive_retrain,
    start_scheduled_retrains,
)


class Command(BaseCommand):
    help = "Retrain like an earlier fine-tune job and evaluate against production."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", default="", metavar="SLUG")
        parser.add_argument("--like", type=int, default=None, metavar="JOB")
        parser.add_argument("--judge", default=None, metavar="REF")
        parser.add_argument("--wait", action="store_true", help="run every step here")
        parser.add_argument("--scheduled", action="store_true", help="start due weekly runs")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["scheduled"]:
            started = start_scheduled_retrains()
            self.stdout.write(
                json.dumps({"started": started}) if options["json"] else f"started {started}"
            )
            return
        if not options["dataset"] or options["like"] is None:
            raise CommandError("--dataset SLUG and --like JOB are required")
        dataset = Dataset.objects.filter(slug=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset {options['dataset']!r}")
        like = FineTuneJob.objects.filter(pk=options["like"], dataset=dataset).first()
        if like is None:
            raise CommandError(f"{dataset.slug} has no fine-tune job {options['like']}")
        try:
            run = create_retrain(
                dataset=dataset,
                like=like,
                user=None,
                judge=options["judge"],
                enqueue=not options["wait"],
            )
        except RetrainError as error:
            raise CommandError(str(error)) from None
        if options["wait"]:
            self.stderr.write(f"retraining {run.pk}: running every step here")

            def sleep(seconds: float) -> None:
                time.sleep(min(seconds, 1.0))

            run = drive_retrain(run_id=run.pk, sleep=sleep)
        summary = cli_summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(f"retraining {run.pk}: {run.status} at step {run.step}")
        if options["wait"] and run.status != JobStatus.SUCCEEDED:
            self.stderr.write(
                f"retraining {run.pk} {run.status}: {(run.error or '').splitlines()[0] if run.error else ''}"
            )
            sys.exit(1)
