"""The demo's finished fine-tune, and teaching a restarted simulator the fine-tunes it made.

``setup_demo`` calls :func:`ensure_demo_finetune` so a new user finds a fine-tune to evaluate
against its base in a few clicks. It needs no worker and no running simulator: PII detection
and the version build run here, and the job row is written as finished, naming a model in
the simulator's format. ``run_openai_simulator`` calls :func:`teach_simulator`, which hands
the simulator the training files of every simulated fine-tune in the database, so it answers
for them after a restart as if it had trained them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.files.storage import default_storage
from django.db import DatabaseError
from django.utils import timezone

from curation.models import (
    Conversation,
    ConversationStatus,
    Dataset,
    Decision,
    JobStatus,
    PiiRun,
)
from curation.services.pii.runs import run_detection_here
from curation.services.reviews.decisions import decide_conversations
from curation.services.versions.build import run_build_job
from curation.services.versions.files import VersionError
from curation.services.versions.preview import create_version
from training.models import FineTuneJob
from training.providers import available_providers
from training.registry.services import register_finetuned_model
from training.simulator.chat import remember_fine_tuned_model
from training.simulator.state import BASE_MODELS, DEFAULT_ORG_SLUG, SimulatorState

logger = logging.getLogger(__name__)

DEMO_BASE = "gpt-4o-mini-2024-07-18"
# Left in review, so the review queue still has work for the demo reviewer.
LEFT_FOR_REVIEW = 10


def ensure_demo_finetune(*, dataset: Dataset, user: Any) -> FineTuneJob | None:
    """A built version and a finished (simulated) fine-tune of the demo dataset, once."""
    existing = FineTuneJob.objects.filter(dataset=dataset).first()
    if existing is not None:
        return existing
    simulator = next((c for c in available_providers() if c.is_simulator), None)
    if simulator is None:
        return None  # a real provider is configured: the demo does not pretend to have trained
    for run in PiiRun.objects.filter(dataset=dataset, status=JobStatus.QUEUED):
        run_detection_here(run=run)
    in_review = Conversation.objects.filter(
        dataset=dataset, status=ConversationStatus.IN_REVIEW
    ).order_by("id")
    keep = list(in_review.values_list("id", flat=True)[:LEFT_FOR_REVIEW])
    decide_conversations(
        dataset=dataset,
        conversations=in_review.passing().exclude(id__in=keep),
        decision=Decision.APPROVE,
        user=user,
        description="demo setup",
    )
    try:
        version = create_version(
            dataset=dataset,
            user=user,
            filter={},
            validation_fraction=0.3,
            notes="Demo version (built by setup_demo)",
            enqueue=False,
        )
    except VersionError as error:
        logger.warning("demo fine-tune skipped: %s", error)
        return None
    version = run_build_job(version_id=version.pk) or version
    version.refresh_from_db()
    if not version.is_built:
        logger.warning("demo fine-tune skipped: %s", version.error)
        return None
    base = dataset.base_model if dataset.base_model in BASE_MODELS else DEMO_BASE
    sha = (version.file_info("train.jsonl") or {}).get("sha256", "0" * 8)
    now = timezone.now()
    job = FineTuneJob.objects.create(
        dataset=dataset,
        version=version,
        created_by=user,
        provider=simulator.name,
        provider_label=f"{simulator.label} (demo)",
        provider_is_simulator=True,
        provider_kind=simulator.kind,
        base_model=base,
        hyperparameters={"n_epochs": 3, "batch_size": "auto", "learning_rate_multiplier": "auto"},
        suffix="demo",
        status=JobStatus.SUCCEEDED,
        remote_status="succeeded",
        remote_job_id=f"ftjob-demo{sha[:20]}",
        fine_tuned_model=f"ft:{base}:{DEFAULT_ORG_SLUG}:demo:{sha[:8]}",
        trained_tokens=version.total_tokens * 3,
        started_at=now,
        finished_at=now,
        timeline=[{"status": "succeeded", "at": now.isoformat()}],
    )
    register_finetuned_model(job=job)
    return job


def _examples(job: FineTuneJob) -> list[dict[str, Any]]:
    examples = []
    for name in ("train.jsonl", "validation.jsonl"):
        info = job.version.file_info(name)
        if not info or not default_storage.exists(info["name"]):
            continue
        with default_storage.open(info["name"], "rb") as handle:
            examples.extend(json.loads(line) for line in handle if line.strip())
    return examples


def teach_simulator(state: SimulatorState) -> int:
    """Register every simulated fine-tune in the database with ``state``; returns how many."""
    try:
        jobs = list(
            FineTuneJob.objects.filter(status=JobStatus.SUCCEEDED, provider_is_simulator=True)
            .exclude(fine_tuned_model="")
            .select_related("version", "version__dataset")
        )
    except DatabaseError as error:
        logger.warning("the simulator starts without the database's fine-tunes: %s", error)
        return 0
    for job in jobs:
        remember_fine_tuned_model(
            state, name=job.fine_tuned_model, base=job.base_model, examples=_examples(job)
        )
    return len(jobs)
