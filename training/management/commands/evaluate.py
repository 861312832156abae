"""``manage.py evaluate``: evaluate a model on a version's split (JSON as the last line)."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import Dataset, DatasetVersion, JobStatus
from training.evaluation.services.runs import (
    EvaluationError,
    cli_summary,
    create_eval_run,
    run_eval_job,
)


class Command(BaseCommand):
    help = (
        "Evaluate a model (job:<id>, <provider>:<model>, local:<model>, or an endpoint name) "
        "on a dataset version's split. Without --wait the run is queued on the eval queue."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # --version is the dataset version here (the CLI contract), not Django's release.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, metavar="SLUG")
        parser.add_argument("--version", required=True, type=int, metavar="N")
        parser.add_argument("--split", default="validation", choices=["validation", "train"])
        parser.add_argument("--model", required=True, metavar="REF")
        parser.add_argument("--judge", default="", metavar="REF")
        parser.add_argument(
            "--allow-contestant-judge",
            action="store_true",
            help="let the judge be a model it judges (its verdicts lean; a warning is printed)",
        )
        parser.add_argument("--limit", type=int, default=None, metavar="K")
        parser.add_argument("--concurrency", type=int, default=None, metavar="C")
        parser.add_argument("--temperature", type=float, default=0.0)
        parser.add_argument("--max-tokens", type=int, default=512)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--wait", action="store_true", help="run here until it ends")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(slug=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset {options['dataset']!r}")
        version = DatasetVersion.objects.filter(dataset=dataset, number=options["version"]).first()
        if version is None:
            raise CommandError(f"{dataset.slug} has no version {options['version']}")
        try:
            run = create_eval_run(
                dataset=dataset,
                version=version,
                split=options["split"],
                model=options["model"],
                judge=options["judge"] or None,
                temperature=options["temperature"],
                max_tokens=options["max_tokens"],
                seed=options["seed"],
                concurrency=options["concurrency"],
                limit=options["limit"],
                user=None,
                enqueue=not options["wait"],
                allow_contestant_judge=options["allow_contestant_judge"],
            )
        except EvaluationError as error:
            raise CommandError(str(error)) from None
        if run.judge_id and run.judge_id == run.model_id:
            self.stderr.write("warning: the judge is the model evaluated; its scores lean")
        if options["wait"]:
            self.stderr.write(f"evaluation {run.pk}: running here until it ends")
            run = run_eval_job(run_id=run.pk)
            run.refresh_from_db()
        summary = cli_summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            metrics = summary["metrics"]
            self.stdout.write(
                f"evaluation {run.pk}: {run.status}, {summary['examples']} examples"
                + (
                    f", exact match {metrics['exact_match']:.3f}"
                    if metrics["exact_match"] is not None
                    else ""
                )
                + (f", ROUGE-L {metrics['rouge_l']:.3f}" if metrics["rouge_l"] is not None else "")
                + (" (simulated)" if run.is_simulated else "")
            )
        if options["wait"] and run.status != JobStatus.SUCCEEDED:
            reason = run.error or f"the run ended {run.status}"
            self.stderr.write(f"evaluation {run.pk} {run.status}: {reason.splitlines()[0]}")
            sys.exit(1)
