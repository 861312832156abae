"""manage.py snapshot --dataset SLUG [--format sft|preference] [--validation-fraction F] [--seed S] [--notes TEXT] [--as USER] [--json]

Freezes the dataset's approved examples as its next version, building in this process (no
worker needed) with the same code the background job runs.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from curation.management.operator import (
    acting_user,
    add_as_argument,
    add_dataset_arguments,
    dataset_named,
)
from curation.models import DatasetVersion, VersionFormat, VersionStatus
from curation.services.versions.build import run_build_job
from curation.services.versions.files import VersionError, cli_summary
from curation.services.versions.preview import create_version, normalize_filter


class Command(BaseCommand):
    help = (
        "Freeze a dataset's approved examples as a new immutable version (train/validation JSONL)."
    )

    def add_arguments(self, parser: Any) -> None:
        add_dataset_arguments(parser)
        parser.add_argument(
            "--validation-fraction",
            type=float,
            default=None,
            metavar="F",
            help="share of examples for validation (default: CURATOR_VALIDATION_FRACTION)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            metavar="S",
            help="split seed (default: the previous version's, else 0)",
        )
        parser.add_argument("--notes", default="", metavar="TEXT")
        parser.add_argument(
            "--format",
            default=VersionFormat.SFT,
            choices=VersionFormat.values,
            help="sft: chat examples (the chosen reply of a pair); "
            "preference: approved chosen/rejected pairs in OpenAI's preference format (DPO)",
        )
        parser.add_argument(
            "--min-score",
            type=float,
            default=None,
            metavar="X",
            help="only examples whose average review score is at least X",
        )
        parser.add_argument(
            "--exclude-flag",
            action="append",
            default=[],
            metavar="FLAG",
            help="leave out examples with this quality flag (repeatable)",
        )
        parser.add_argument(
            "--batch",
            action="append",
            type=int,
            default=[],
            metavar="ID",
            help="only examples from this import batch (repeatable)",
        )
        add_as_argument(parser, what="build the version")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = dataset_named(options["dataset"])
        user = acting_user(username=options["username"], dataset=dataset)
        try:
            version = create_version(
                dataset=dataset,
                user=user,
                filter=normalize_filter(
                    min_score=options["min_score"],
                    exclude_flags=options["exclude_flag"],
                    batches=options["batch"],
                ),
                validation_fraction=options["validation_fraction"],
                seed=options["seed"],
                notes=options["notes"],
                enqueue=False,
                format=options["format"],
            )
        except VersionError as error:
            raise CommandError(str(error)) from None
        try:
            run_build_job(version_id=version.pk)
        except Exception:
            version = DatasetVersion.objects.get(pk=version.pk)
            raise CommandError(version.error or "the build failed") from None
        version = DatasetVersion.objects.select_related("dataset").get(pk=version.pk)
        summary = cli_summary(version)
        if version.status != VersionStatus.SUCCEEDED:
            if options["json"]:
                self.stdout.write(json.dumps(summary))
            raise CommandError(version.error or f"version {version.number} is {version.status}")
        if not options["json"]:
            self.stdout.write(
                f"{dataset.slug} v{version.number}: {version.examples} examples "
                f"({version.train_examples} train, {version.validation_examples} validation"
                f"{f'; {version.duplicates_merged} duplicates merged' if version.duplicates_merged else ''})"
            )
            for name, info in summary["files"].items():
                self.stdout.write(f"  {name}  {info['sha256']}  {info['path']}")
        else:
            self.stdout.write(json.dumps(summary))
