"""``manage.py compare_runs``: compare two evaluation runs (JSON as the last line)."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import JobStatus
from training.evaluation.models import EvalRun
from training.evaluation.services.comparisons import (
    ComparisonError,
    cli_summary,
    create_comparison,
    run_comparison_job,
)


class Command(BaseCommand):
    help = "Compare two evaluation runs on the examples they share (judge: pairwise, swapped)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", nargs=2, type=int, required=True, metavar=("A", "B"))
        parser.add_argument("--judge", default="", metavar="REF")
        parser.add_argument(
            "--allow-contestant-judge",
            action="store_true",
            help="let the judge be a model it judges (its verdicts lean; a warning is printed)",
        )
        parser.add_argument("--reviews-needed", type=int, default=1)
        parser.add_argument("--wait", action="store_true", help="judge here until done")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        runs = {run.pk: run for run in EvalRun.objects.filter(pk__in=options["runs"])}
        missing = [str(pk) for pk in options["runs"] if pk not in runs]
        if missing:
            raise CommandError(f"no evaluation run {', '.join(missing)}")
        try:
            comparison = create_comparison(
                run_a=runs[options["runs"][0]],
                run_b=runs[options["runs"][1]],
                judge=options["judge"] or None,
                reviews_needed=options["reviews_needed"],
                user=None,
                enqueue=not options["wait"],
                allow_contestant_judge=options["allow_contestant_judge"],
            )
        except ComparisonError as error:
            raise CommandError(str(error)) from None
        if comparison.judge_id and comparison.judge_id in (
            comparison.run_a.model_id,
            comparison.run_b.model_id,
        ):
            self.stderr.write(
                "warning: the judge is one of the two models compared; its verdicts lean"
            )
        if options["wait"] and comparison.is_active:
            comparison = run_comparison_job(comparison_id=comparison.pk)
            comparison.refresh_from_db()
        summary = cli_summary(comparison)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            rate = summary["b_win_rate"]
            self.stdout.write(
                f"comparison {comparison.pk}: {comparison.status}, {summary['examples']} shared "
                f"examples, A {summary['a_wins']} / B {summary['b_wins']} / ties {summary['ties']}"
                + (f", B win rate {rate:.2f}" if rate is not None else "")
            )
        if options["wait"] and comparison.status != JobStatus.SUCCEEDED:
            self.stderr.write(f"comparison {comparison.pk} {comparison.status}: {comparison.error}")
            sys.exit(1)
