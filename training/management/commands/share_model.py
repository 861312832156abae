"""manage.py share_model --dataset OWNER --model REF --with SLUG [--as STAFF] [--json]

Lets another dataset name one of OWNER's fine-tunes (evaluate it, judge with it, promote
it, read its lineage). Sharing is a site-staff decision, written to the audit log; without
it, another dataset's fine-tune is "not found" everywhere.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import Dataset
from training.registry.services import ShareRefused, UnknownModel, model_share, resolve_model


class Command(BaseCommand):
    help = "Share a dataset's fine-tune with another dataset (site staff; audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, metavar="OWNER")
        parser.add_argument("--model", required=True, metavar="REF")
        parser.add_argument("--with", dest="target", required=True, metavar="SLUG")
        parser.add_argument("--as", dest="username", default="", metavar="STAFF")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = Dataset.objects.filter(slug=options["dataset"]).first()
        target = Dataset.objects.filter(slug=options["target"]).first()
        if owner is None or target is None:
            missing = options["dataset"] if owner is None else options["target"]
            raise CommandError(f"no dataset {missing!r}")
        user = None
        if options["username"]:
            user = get_user_model().objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"no user {options['username']!r}")
        try:
            model = resolve_model(options["model"], dataset=owner)
            model_share(model=model, dataset=target, user=user)
        except (UnknownModel, ShareRefused) as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(
                json.dumps({"model": model.ref, "owner": owner.slug, "shared_with": target.slug})
            )
        else:
            self.stdout.write(f"{model.ref} of {owner.slug} may now be named in {target.slug}")
