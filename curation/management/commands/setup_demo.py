"""Create the demo admin and reviewer and load the demo dataset (used by `make run`)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand
from django.db import transaction

from curation.models import Dataset, Membership, Role
from curation.services.imports import create_import_batch, run_import_job
from training.evaluation.services.demo import ensure_demo_finetune

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "support_chats.jsonl"


class Command(BaseCommand):
    help = "Create demo users (new passwords each run) and the demo dataset if missing."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--admin-password", default="", help="default: a new random password")
        parser.add_argument(
            "--reviewer-password", default="", help="default: a new random password"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        admin_password = options["admin_password"] or secrets.token_urlsafe(9)
        reviewer_password = options["reviewer_password"] or secrets.token_urlsafe(9)
        with transaction.atomic():
            admin, _ = users.objects.get_or_create(
                username="admin", defaults={"email": "admin@example.com"}
            )
            admin.is_staff = admin.is_superuser = True
            admin.set_password(admin_password)
            admin.save()
            reviewer, _ = users.objects.get_or_create(
                username="reviewer", defaults={"email": "reviewer@example.com"}
            )
            reviewer.set_password(reviewer_password)
            reviewer.save()
            dataset, created = Dataset.objects.get_or_create(
                slug="support-demo",
                defaults={
                    "name": "Support chats (demo)",
                    "description": "Fifty customer-support conversations for Nimbus Cloud Storage, with fake personal data to redact.",
                    "system_prompt": "You are Nimbus Support, the friendly assistant for Nimbus Cloud Storage.",
                    "created_by": admin,
                },
            )
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
                f"Loaded the demo dataset: {batch.imported} conversations ({batch.duplicates} duplicates skipped)."
            )
        if ensure_demo_finetune(dataset=dataset, user=admin) is not None:
            self.stdout.write("The demo has a finished (simulated) fine-tune to evaluate.")
        self.stdout.write(self.style.SUCCESS("Demo logins:"))
        self.stdout.write(f"  admin    / {admin_password}   (dataset admin and site staff)")
        self.stdout.write(f"  reviewer / {reviewer_password}   (reviewer)")
