"""manage.py create_token --user U --scope read|ingest|admin [--dataset SLUG] [--days N]
[--name TEXT] [--json]  →  {"token": "..."} (the secret, shown this once)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import Dataset, TokenScope
from curation.services.access_tokens import access_token_create


class Command(BaseCommand):
    help = "Create a personal access token for a user (for scripts and serving code)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, metavar="U")
        parser.add_argument("--scope", required=True, choices=TokenScope.values)
        parser.add_argument("--dataset", default="", metavar="SLUG")
        parser.add_argument("--days", type=int, default=None, metavar="N")
        parser.add_argument("--name", default="", metavar="TEXT")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None or not user.is_active:
            raise CommandError(f"no active user {options['user']!r}")
        dataset = None
        if options["dataset"]:
            dataset = Dataset.objects.filter(slug=options["dataset"]).first()
            if dataset is None:
                raise CommandError(f"no dataset {options['dataset']!r}")
            if not dataset.memberships.filter(user=user).exists():
                raise CommandError(f"{user.username} is not a member of {dataset.slug}")
        if options["days"] is not None and options["days"] < 1:
            raise CommandError("--days must be at least 1")
        name = options["name"] or f"{options['scope']} token (CLI)"
        token, secret = access_token_create(
            user=user,
            name=name,
            days=options["days"],
            scope=options["scope"],
            dataset=dataset,
            actor=None,
        )
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "token": secret,
                        "prefix": token.prefix,
                        "scope": token.scope,
                        "dataset": dataset.slug if dataset else None,
                        "expires_at": token.expires_at.isoformat(),
                    }
                )
            )
        else:
            self.stdout.write(secret)
