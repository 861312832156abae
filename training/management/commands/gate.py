"""manage.py gate --dataset SLUG [--evidence judge|people|metric:NAME] [--level 0.05]
[--min-examples N] [--json]

Pre-registers the one test promotion applies to the dataset's comparisons made from now on:
the evidence (the judge's verdicts, people's blind verdicts or one quality metric), the
one-sided level and the fewest examples. Descriptive figures (length_ratio, latency_ms) are
refused. Without --evidence it prints the current settings.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import Dataset
from training.registry.configure import GateSettingsError, gate_settings_update
from training.registry.stages import RegistrySettings


class Command(BaseCommand):
    help = "Choose the gate's one pre-registered test for a dataset (or show it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, metavar="SLUG")
        parser.add_argument("--evidence", default="", metavar="judge|people|metric:NAME")
        parser.add_argument("--level", type=float, default=None)
        parser.add_argument("--min-examples", type=int, default=None, dest="min_examples")
        parser.add_argument("--as", dest="username", default="", metavar="USER")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(slug=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset {options['dataset']!r}")
        user = None
        if options["username"]:
            user = get_user_model().objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"no user {options['username']!r}")
        if options["evidence"]:
            try:
                saved = gate_settings_update(
                    dataset=dataset,
                    evidence=options["evidence"],
                    level=options["level"],
                    min_examples=options["min_examples"],
                    user=user,
                )
            except GateSettingsError as error:
                raise CommandError(str(error)) from None
        elif options["level"] is not None or options["min_examples"] is not None:
            raise CommandError("--level and --min-examples go with --evidence")
        else:
            saved = RegistrySettings.for_dataset(dataset)
        gate = saved.gate
        if options["json"]:
            self.stdout.write(json.dumps({"dataset": dataset.slug, "gate": gate}))
        else:
            self.stdout.write(
                f"{dataset.slug}: the gate tests {gate['evidence']} at level {gate['level']:g} "
                f"on at least {gate['min_examples']} examples (comparisons made from now on)"
            )
