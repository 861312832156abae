"""The demo's finished fine-tune, and teaching a restarted simulator the fine-tunes it made.

``setup_demo`` calls :func:`ensure_demo_finetune` so a new user finds a fine-tune to evaluate
against its base in a few clicks. It needs no worker: PII detection and the version build run
here, and the fine-tune goes through the same launch and follow steps as any other, against
a simulator started in this process on the simulator's own address at high speed (``make run``
starts the long-running one after this). So the job has what a real one has: uploaded files,
events, a loss curve, checkpoints and the hyperparameters used. ``run_openai_simulator``
calls :func:`teach_simulator`, which hands the simulator the training files of every
simulated fine-tune in the database, so it answers for them after a restart as if it had
trained them.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from django.core.files.storage import default_storage
from django.db import DatabaseError

from curation.models import (
    Conversation,
    ConversationStatus,
    Dataset,
    DatasetVersion,
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
from training.providers import ProviderConfig, available_providers
from training.services.launch import create_finetune_job
from training.services.runner import drive_finetune
from training.services.version_files import LaunchError
from training.simulator import SimulatorServer
from training.simulator.chat import remember_fine_tuned_model
from training.simulator.state import BASE_MODELS, SimulatorState

logger = logging.getLogger(__name__)

DEMO_BASE = "gpt-4o-mini-2024-07-18"
# Left in review, so the review queue still has work for the demo reviewer.
LEFT_FOR_REVIEW = 10
# Simulated time runs this many times faster than real time: the demo's job, planned to take
# minutes at a provider, takes about a second here.
DEMO_SPEED = 1000.0


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
    return _train_on_simulator(version=version, provider=simulator, base=base, user=user)


def _train_on_simulator(
    *, version: DatasetVersion, provider: ProviderConfig, base: str, user: Any
) -> FineTuneJob | None:
    """Launch and follow the fine-tune, with a simulator serving the provider's address
    meanwhile; None (and a warning) where that address cannot be served from here."""
    address = urlsplit(provider.url or "")
    try:
        server = SimulatorServer(
            host=address.hostname or "", port=address.port or 80, speed=DEMO_SPEED
        )
    except OSError as error:
        logger.warning(
            "demo fine-tune skipped: cannot serve the simulator at %s here (%s); "
            "run setup_demo while the simulator is stopped",
            provider.url,
            error,
        )
        return None
    with server:
        try:
            job = create_finetune_job(
                version=version,
                provider=provider.name,
                base_model=base,
                user=user,
                hyperparameters={"n_epochs": 3},
                suffix="demo",
                enqueue=False,
            )
        except LaunchError as error:
            logger.warning("demo fine-tune skipped: %s", "; ".join(error.problems))
            return None
        # The simulator runs DEMO_SPEED times faster than real time: so do the polls.
        return drive_finetune(job_id=job.pk, sleep=lambda delay: time.sleep(delay / DEMO_SPEED))


def _examples(job: FineTuneJob) -> list[dict[str, Any]]:
    """The lines the fine-tune was trained on: its training file only, never the validation
    file (a model that had seen those would win its evaluation by construction)."""
    info = job.version.file_info("train.jsonl")
    if not info or not default_storage.exists(info["name"]):
        return []
    with default_storage.open(info["name"], "rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


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
