"""manage.py import_conversations --dataset SLUG [--create] [--pii on|off] [--region CC] [--languages en,hi,zh] [--format F] [--json] FILE...

Imports in this process (no worker needed), with the same code the background job runs.
Exits 0 when the input was read (outcome succeeded or partial), also when every record was
already in the dataset ("nothing new"), and non-zero with a one-line reason when the file
could not be read or every record was invalid (failed); `--json` always ends with the outcome.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from curation.models import Dataset, ImportBatch, ImportFormat, ImportOutcome
from curation.pii.config import LANGUAGES
from curation.selectors.imports import import_warnings
from curation.services import memberships
from curation.services.imports import create_import_batch, run_import_job

# --create checks only the settings given on the command line (the rest are defaults).
_CHECKED_FIELDS = ("region", "languages")


class Command(BaseCommand):
    help = "Import conversation files into a dataset; bad lines are listed, good ones imported."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--dataset", required=True, metavar="SLUG")
        parser.add_argument(
            "--create", action="store_true", help="create the dataset if it does not exist"
        )
        parser.add_argument(
            "--pii",
            choices=["on", "off"],
            default="on",
            help="with --create: PII detection for the new dataset (off: straight to review)",
        )
        parser.add_argument(
            "--region",
            default="",
            metavar="CC",
            help="with --create: the default region for phone numbers and postcodes (IN, US…)",
        )
        parser.add_argument(
            "--languages",
            default="",
            metavar="en,hi,zh",
            help=f"with --create: the conversations' languages ({', '.join(LANGUAGES)})",
        )
        parser.add_argument("--format", default="auto", choices=ImportFormat.values)
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object as the last line"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        paths = [Path(name) for name in options["files"]]
        for path in paths:
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
        slug = options["dataset"]
        dataset = Dataset.objects.filter(slug=slug).first()
        if dataset is None:
            if not options["create"]:
                raise CommandError(f"no dataset {slug!r} (add --create to create it)")
            dataset = Dataset(
                name=slug.replace("-", " ").title(),
                slug=slugify(slug),
                pii_detection=options["pii"] == "on",
                region=options["region"].strip().upper(),
                languages=[c.strip().lower() for c in options["languages"].split(",") if c.strip()],
            )
            try:
                dataset.clean_fields(
                    exclude=[f.name for f in Dataset._meta.fields if f.name not in _CHECKED_FIELDS]
                )
            except ValidationError as error:
                problems = "; ".join(
                    f"--{name}: {' '.join(messages)}"
                    for name, messages in error.message_dict.items()
                )
                raise CommandError(problems) from None
            dataset = memberships.dataset_create(dataset=dataset, user=None)
        summaries = []
        for path in paths:
            with path.open("rb") as handle, transaction.atomic():
                batch = create_import_batch(
                    dataset=dataset,
                    uploaded=File(handle, name=path.name),
                    original_name=path.name,
                    fmt=options["format"],
                    user=None,
                    enqueue=False,
                )
            # An unexpected error is logged with its traceback by the job and recorded on the
            # batch as one line, which is what the command reports below.
            with contextlib.suppress(Exception):
                run_import_job(batch_id=batch.pk)
            batch = ImportBatch.objects.get(pk=batch.pk)
            summary = batch.as_summary()
            summary["file"] = str(path)
            warnings = import_warnings(batch)
            summary["warning_counts"] = {w.flag: w.count for w in warnings}
            summaries.append(summary)
            if not options["json"]:
                self.stdout.write(
                    f"{path}: {batch.get_outcome_display().lower() or batch.status}: read {batch.read}, "
                    f"imported {batch.imported}, duplicates {batch.duplicates}, "
                    f"invalid {batch.invalid}, with warnings {batch.warnings}"
                    + (
                        " (" + ", ".join(f"{w.label.lower()} {w.count}" for w in warnings) + ")"
                        if warnings
                        else ""
                    )
                )
                unit = batch.numbered_by
                for line_error in summary["errors"][:20]:
                    self.stdout.write(f"  {unit} {line_error[unit]}: {line_error['reason']}")
        result = summaries[0] if len(summaries) == 1 else _combine(summaries)
        if options["json"]:
            # The outcome always comes last, whatever happened.
            self.stdout.write(json.dumps(result))
        if result["outcome"] == ImportOutcome.FAILED:
            reasons = [s["message"] for s in summaries if s["outcome"] == ImportOutcome.FAILED]
            raise CommandError(" | ".join(" ".join(r.split()) for r in reasons)[:2000])


def _combine(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    combined: dict[str, Any] = {"batch": [s["batch"] for s in summaries], "files": summaries}
    for key in ("read", "imported", "pairs", "labelled", "duplicates", "invalid", "warnings"):
        combined[key] = sum(s[key] for s in summaries)
    combined["errors"] = [dict(error, file=s["file"]) for s in summaries for error in s["errors"]]
    outcomes = {s["outcome"] for s in summaries}
    if outcomes == {ImportOutcome.FAILED}:
        combined["outcome"] = ImportOutcome.FAILED
    elif outcomes == {ImportOutcome.SUCCEEDED}:
        combined["outcome"] = ImportOutcome.SUCCEEDED
    else:
        combined["outcome"] = ImportOutcome.PARTIAL
    combined["message"] = "; ".join(s["message"] for s in summaries)
    return combined
