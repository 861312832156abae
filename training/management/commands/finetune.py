"""``manage.py finetune``: launch a fine-tune of a built dataset version, optionally wait."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.management.operator import acting_user, add_as_argument
from curation.models import Dataset, DatasetVersion, JobStatus
from training.models import AUTO, FineTuneMethod
from training.providers import ProviderNotConfigured, get_config
from training.services import LaunchError, cli_summary, create_finetune_job, drive_finetune

# --method as the CLI names it -> as jobs store it.
METHODS = {"sft": FineTuneMethod.SUPERVISED, "dpo": FineTuneMethod.DPO}
# LoRA flags -> the hyperparameter each sets (local and hosted LoRA providers alike).
LORA_FLAGS = {
    "lora_rank": "lora_rank",
    "lora_alpha": "lora_alpha",
    "learning_rate": "learning_rate",
    "max_seq_len": "max_seq_length",
}


class Command(BaseCommand):
    help = (
        "Launch a fine-tune of a built dataset version. The same checks as the launch page run "
        "first. Without --wait the job is queued for the 'training' worker; with --wait this "
        "process runs it to the end (no worker needed) and exits non-zero unless it succeeded."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # The CLI contract (DESIGN.md) names the dataset version --version; Django's own
        # --version (its release number) gives way to it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, help="dataset slug")
        parser.add_argument("--version", required=True, type=int, help="version number")
        parser.add_argument("--provider", required=True, help="provider name from settings")
        parser.add_argument("--model", required=True, help="base model")
        parser.add_argument("--epochs", default=AUTO, help="auto (default) or a number")
        parser.add_argument("--batch-size", default=AUTO)
        parser.add_argument("--learning-rate-multiplier", default=AUTO, help="OpenAI only")
        parser.add_argument("--method", choices=sorted(METHODS), default="sft")
        parser.add_argument("--lora-rank", type=int, default=None)
        parser.add_argument("--lora-alpha", type=int, default=None)
        parser.add_argument("--learning-rate", type=float, default=None, help="absolute")
        parser.add_argument("--max-seq-len", type=int, default=None, help="tokens per row")
        parser.add_argument(
            "--gpus", type=int, default=None, help="local: GPUs for this job (CURATOR_LOCAL_GPUS)"
        )
        parser.add_argument(
            "--beta",
            type=float,
            default=None,
            help="DPO only: how far the model may move from the base (higher stays closer)",
        )
        parser.add_argument("--suffix", default="")
        parser.add_argument("--seed", type=int, default=None)
        add_as_argument(parser, what="launch")
        parser.add_argument("--wait", action="store_true", help="run it here until it ends")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            dataset = Dataset.objects.get(slug=options["dataset"])
        except Dataset.DoesNotExist:
            raise CommandError(f"no dataset {options['dataset']!r}") from None
        try:
            version = DatasetVersion.objects.select_related("dataset").get(
                dataset=dataset, number=options["version"]
            )
        except DatasetVersion.DoesNotExist:
            raise CommandError(
                f"dataset {dataset.slug!r} has no version {options['version']}"
            ) from None
        user = acting_user(username=options["username"], dataset=dataset)
        hyperparameters: dict[str, Any] = {
            "n_epochs": options["epochs"],
            "batch_size": options["batch_size"],
            "learning_rate_multiplier": options["learning_rate_multiplier"],
        }
        chosen = {
            key: options[flag] for flag, key in LORA_FLAGS.items() if options[flag] is not None
        }
        if options["gpus"] is not None:
            chosen["gpus"] = options["gpus"]
        if chosen:
            try:
                kind = get_config(options["provider"]).kind
            except ProviderNotConfigured as error:
                raise CommandError(str(error)) from None
            if kind not in {"local", "together", "fireworks"}:
                flags = ", ".join("--" + name.replace("_", "-") for name in chosen)
                raise CommandError(f"{flags}: not taken by {options['provider']} ({kind})")
            if "gpus" in chosen and kind != "local":
                raise CommandError("--gpus is for local training only")
            hyperparameters.update(chosen)
        if options["beta"] is not None:
            if options["method"] != "dpo":
                raise CommandError("--beta is for --method dpo only")
            hyperparameters["dpo_beta"] = options["beta"]
        try:
            job = create_finetune_job(
                version=version,
                provider=options["provider"],
                base_model=options["model"],
                method=METHODS[options["method"]],
                hyperparameters=hyperparameters,
                suffix=options["suffix"],
                seed=options["seed"],
                user=user,
                enqueue=not options["wait"],
            )
        except LaunchError as error:
            raise CommandError(str(error)) from None
        if options["wait"]:
            self.stderr.write(
                f"fine-tune {job.pk}: running here until it ends (Ctrl-C leaves it for `Retry`)"
            )
            last: list[str] = []

            def sleep(seconds: float) -> None:
                current = (
                    type(job)
                    .objects.filter(pk=job.pk)
                    .values_list("remote_status", flat=True)
                    .first()
                )
                if current and current != (last[-1] if last else None):
                    last.append(current)
                    self.stderr.write(f"fine-tune {job.pk}: {current}")
                time.sleep(seconds)

            job = drive_finetune(job_id=job.pk, sleep=sleep)
        summary = cli_summary(job)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"fine-tune {job.pk}: {job.status}"
                + (f", remote job {job.remote_job_id}" if job.remote_job_id else "")
                + (f", model {job.fine_tuned_model}" if job.fine_tuned_model else "")
            )
        if options["wait"] and job.status != JobStatus.SUCCEEDED:
            reason = job.error or f"the job ended {job.status}"
            self.stderr.write(f"fine-tune {job.pk} {job.status}: {reason.splitlines()[0]}")
            sys.exit(1)
