"""Create the demo admin and reviewer and load the demo dataset (used by `make run`).

The demo passwords are made up once and kept in var/demo-logins.json (readable by the owner
only), so every `make run` prints the same ones; `--reset-passwords` (`make run RESET_DEMO=1`)
makes new ones.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand
from django.db import transaction

from curation.models import Dataset, JobStatus, Membership, Role
from curation.services.imports import create_import_batch, run_import_job
from training.evaluation.services.demo import ensure_demo_finetune

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "support_chats.jsonl"
DEMO_DESCRIPTION = (
    "Customer-support conversations for Nimbus Cloud Storage, with fake personal data to "
    "redact. The demo file repeats a few conversations on purpose, so its import reports "
    "exact duplicates."
)
# What earlier versions said; replaced when found, since the file never held fifty.
_OLD_DESCRIPTION_START = "Fifty customer-support conversations"


def logins_file() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-logins.json"


def _stored_passwords(path: Path) -> dict[str, str]:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return (
        {k: v for k, v in stored.items() if isinstance(v, str) and v}
        if isinstance(stored, dict)
        else {}
    )


def _store_passwords(path: Path, passwords: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(passwords, handle)


class Command(BaseCommand):
    help = (
        "Create the demo users and dataset if missing. Passwords stay the same across runs "
        "(kept in var/demo-logins.json) unless --reset-passwords."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--admin-password", default="", help="default: the stored one")
        parser.add_argument("--reviewer-password", default="", help="default: the stored one")
        parser.add_argument(
            "--reset-passwords", action="store_true", help="make up new demo passwords"
        )
        parser.add_argument(
            "--logins-file", default="", help="where the passwords are kept (var/demo-logins.json)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        path = Path(options["logins_file"]) if options["logins_file"] else logins_file()
        stored = {} if options["reset_passwords"] else _stored_passwords(path)
        passwords = {
            name: options[f"{name}_password"] or stored.get(name) or secrets.token_urlsafe(9)
            for name in ("admin", "reviewer")
        }
        if passwords != stored:
            _store_passwords(path, passwords)
        with transaction.atomic():
            admin, _ = users.objects.get_or_create(
                username="admin", defaults={"email": "admin@example.com"}
            )
            admin.is_staff = admin.is_superuser = True
            admin.set_password(passwords["admin"])
            admin.save()
            reviewer, _ = users.objects.get_or_create(
                username="reviewer", defaults={"email": "reviewer@example.com"}
            )
            reviewer.set_password(passwords["reviewer"])
            reviewer.save()
            dataset, created = Dataset.objects.get_or_create(
                slug="support-demo",
                defaults={
                    "name": "Support chats (demo)",
                    "description": DEMO_DESCRIPTION,
                    "system_prompt": "You are Nimbus Support, the friendly assistant for Nimbus Cloud Storage.",
                    "created_by": admin,
                },
            )
            if dataset.description.startswith(_OLD_DESCRIPTION_START):
                Dataset.objects.filter(pk=dataset.pk).update(description=DEMO_DESCRIPTION)
            Membership.objects.update_or_create(
                dataset=dataset, user=admin, defaults={"role": Role.ADMIN}
            )
            Membership.objects.get_or_create(
                dataset=dataset, user=reviewer, defaults={"role": Role.REVIEWER}
            )
        if created or not dataset.batches.exists():
            with DEMO_FILE.open("rb") as handle:
                batch = create_import_batch(
                    dataset=dataset,
                    uploaded=File(handle, name=DEMO_FILE.name),
                    original_name=DEMO_FILE.name,
                    fmt="auto",
                    user=admin,
                    enqueue=False,
                )
            run_import_job(batch_id=batch.pk)
            batch.refresh_from_db()
            self.stdout.write(
                f"Loaded the demo dataset: {batch.read} lines, {batch.imported} conversations "
                f"imported, {batch.duplicates} exact duplicates skipped."
            )
        job = ensure_demo_finetune(dataset=dataset, user=admin)
        if job is not None and job.status == JobStatus.SUCCEEDED:
            self.stdout.write("The demo has a finished (simulated) fine-tune to evaluate.")
        elif job is not None:
            self.stdout.write(f"The demo fine-tune #{job.pk} ended {job.status}: {job.error}")
        self.stdout.write(self.style.SUCCESS("Demo logins:"))
        self.stdout.write(f"  admin    / {passwords['admin']}   (dataset admin and site staff)")
        self.stdout.write(f"  reviewer / {passwords['reviewer']}   (reviewer)")
