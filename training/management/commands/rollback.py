"""manage.py rollback --dataset SLUG [--reason TEXT] [--json]: production back to the model
it replaced, in one step (audited, webhook sent)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import Dataset
from training.registry.promotion import PromotionRefused, rollback_production


class Command(BaseCommand):
    help = "Return a dataset's production model to the previous one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, metavar="SLUG")
        parser.add_argument("--reason", default="", metavar="TEXT")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(slug=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset {options['dataset']!r}")
        try:
            event = rollback_production(dataset=dataset, user=None, reason=options["reason"])
        except PromotionRefused as error:
            raise CommandError(error.reason) from None
        assert event.model is not None and event.previous is not None  # the event just written
        summary = {
            "dataset": dataset.slug,
            "production": event.model.name,
            "previous": event.previous.name if event.previous else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"{dataset.slug}: production rolled back to {event.model.ref} "
                f"(from {event.previous.ref})"
            )
