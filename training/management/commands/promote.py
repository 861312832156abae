"""manage.py promote --dataset SLUG --model REF [--comparison ID] [--force --reason TEXT] [--json]

Makes REF the dataset's production model through the gate (the dataset's one pre-registered
test, set with ``manage.py gate``, showing the candidate better than production); the first
promotion needs none. A refusal exits non-zero; with --json its last line is
``{"refused": true, "reason": "…", "gate": {…}}``. --force (with a
--reason) overrides a refusal, audited as the system or as --as USER, who must be staff.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import Dataset
from training.evaluation.models import Comparison
from training.registry.promotion import PromotionRefused, promote_model
from training.registry.services import UnknownModel, resolve_model


class Command(BaseCommand):
    help = "Promote a model to production for a dataset, through the comparison gate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, metavar="SLUG")
        parser.add_argument("--model", required=True, metavar="REF")
        parser.add_argument("--comparison", type=int, default=None, metavar="ID")
        parser.add_argument("--force", action="store_true", help="override a refusal (staff)")
        parser.add_argument("--reason", default="", metavar="TEXT")
        parser.add_argument("--as", dest="username", default="", metavar="USER")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(slug=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset {options['dataset']!r}")
        if options["force"] and not options["reason"].strip():
            raise CommandError("--force needs --reason TEXT (it is written to the audit log)")
        user = None
        if options["username"]:
            user = get_user_model().objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"no user {options['username']!r}")
        try:
            model = resolve_model(options["model"], dataset=dataset)
        except UnknownModel as error:
            raise CommandError(str(error)) from None
        comparison = None
        if options["comparison"] is not None:
            comparison = Comparison.objects.filter(
                dataset=dataset, pk=options["comparison"]
            ).first()
            if comparison is None:
                raise CommandError(f"no comparison {options['comparison']} in {dataset.slug}")
        try:
            event = promote_model(
                dataset=dataset,
                model=model,
                user=user,
                comparison=comparison,
                force=options["force"],
                reason=options["reason"],
            )
        except PromotionRefused as error:
            if options["json"]:
                self.stdout.write(
                    json.dumps({"refused": True, "reason": error.reason, "gate": error.details})
                )
            raise CommandError(error.reason) from None
        assert event.model is not None  # the event just written
        summary = {
            "dataset": dataset.slug,
            "production": event.model.name,
            "previous": event.previous.name if event.previous else None,
            "forced": event.forced,
            "comparison": event.comparison_id,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"{dataset.slug}: production is now {model.ref}"
                + (f" (was {event.previous.ref})" if event.previous else " (first promotion)")
                + (" — gate overridden" if event.forced else "")
            )
