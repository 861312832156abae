"""``manage.py serve``: deploy a finished hosted fine-tune where its provider requires it and
check that it answers (the job page's "Deploy and check it answers"), or remove the
deployment Curator created (``--undeploy``). JSON as the last line with ``--json``."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.management.operator import acting_user, add_as_argument, dataset_named
from training.models import FineTuneJob
from training.providers import ProviderError
from training.services.serving import NotServable, serving_deploy, serving_undeploy


class Command(BaseCommand):
    help = (
        "Deploy a finished Together, Fireworks or Azure fine-tune where the provider requires "
        "it (paid deployments only with CURATOR_ALLOW_PAID_DEPLOYMENTS) and check it answers; "
        "exits non-zero, saying what to create by hand, when it does not. --undeploy removes "
        "the deployment Curator created."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, metavar="SLUG")
        parser.add_argument("--job", required=True, type=int, metavar="ID", help="fine-tune job")
        parser.add_argument(
            "--undeploy", action="store_true", help="remove the deployment Curator created"
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="wait (up to CURATOR_SERVING_WAIT_SECONDS) for a deployment to come up",
        )
        add_as_argument(parser, what="deploy")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = dataset_named(options["dataset"])
        user = acting_user(username=options["username"], dataset=dataset)
        job = FineTuneJob.objects.for_dataset(dataset).filter(pk=options["job"]).first()
        if job is None:
            raise CommandError(f"no fine-tune job {options['job']} in {dataset.slug}")
        wait = float(settings.CURATOR_SERVING_WAIT_SECONDS) if options["wait"] else 0.0
        try:
            if options["undeploy"]:
                entry = serving_undeploy(job=job, user=user)
            else:
                entry = serving_deploy(job=job, user=user, wait=wait)
        except NotServable as error:
            self._refuse(options, job, str(error), code="not_servable")
        except ProviderError as error:
            self._refuse(options, job, str(error), code=error.code or "provider_error")
        summary = {
            "job": job.pk,
            "model": entry["model"],
            "state": entry["state"],
            "deployment": entry["deployment"] or None,
            "endpoint": entry["endpoint"],
            "detail": entry["detail"],
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"fine-tune {job.pk}: {entry['model']} {entry['state'].replace('_', ' ')}"
                + (f" (deployment {entry['deployment']})" if entry["deployment"] else "")
            )
        if not options["undeploy"] and entry["state"] != "answering":
            raise CommandError(f"{entry['model']} {entry['state']}: {entry['detail']}")

    def _refuse(
        self, options: dict[str, Any], job: FineTuneJob, reason: str, *, code: str
    ) -> NoReturn:
        if options["json"]:
            self.stdout.write(
                json.dumps({"job": job.pk, "refused": True, "reason": reason, "error_code": code})
            )
        raise CommandError(reason)
