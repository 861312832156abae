"""manage.py review_bulk --dataset SLUG (--approve|--reject) [--where passing|all] [--as USER] [--json]

Approves or rejects, as a dataset admin's final decision, every conversation in review:
`--where passing` (the default) only those without a blocking quality flag.
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
from curation.models import Decision
from curation.services.reviews.decisions import decide_conversations
from training.evaluation.prescore_filter import PreScoreError, filter_by_prescore


class Command(BaseCommand):
    help = "Approve or reject every conversation in review (optionally only passing ones)."

    def add_arguments(self, parser: Any) -> None:
        add_dataset_arguments(parser)
        choice = parser.add_mutually_exclusive_group(required=True)
        choice.add_argument("--approve", action="store_true")
        choice.add_argument("--reject", action="store_true")
        parser.add_argument(
            "--where",
            default="passing",
            help="passing, all, or a judge pre-score condition such as 'judge<3'",
        )
        add_as_argument(parser, what="decide")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = dataset_named(options["dataset"])
        user = acting_user(username=options["username"], dataset=dataset)
        decision = Decision.APPROVE if options["approve"] else Decision.REJECT
        conversations = dataset.conversations.all()
        if options["where"] == "passing":
            conversations = conversations.passing()
        elif options["where"] != "all":
            try:
                conversations = filter_by_prescore(conversations, options["where"])
            except PreScoreError as error:
                raise CommandError(f"--where: {error} (or passing, all)") from None
        changed = decide_conversations(
            dataset=dataset,
            conversations=conversations,
            decision=decision,
            user=user,
            description=f"command line: --where {options['where']}",
        )
        result = {
            "approved": changed if decision == Decision.APPROVE else 0,
            "rejected": changed if decision == Decision.REJECT else 0,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            verb = "approved" if decision == Decision.APPROVE else "rejected"
            self.stdout.write(
                f"{dataset.slug}: {verb} {changed} conversation(s) in review ({options['where']})."
            )
