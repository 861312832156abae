"""Rows as the API returns them. Conversation text leaves redacted, as every download does."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse

from curation.models import Conversation, ConversationStatus, Dataset, DatasetVersion, ImportBatch
from curation.selectors.redaction import redacted_messages
from training.evaluation.models import EvalRun
from training.models import FineTuneJob
from training.registry.models import Model

FEEDBACK_KEYS = ("feedback", "score", "comment", "trace_id", "source", "model")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def dataset_json(dataset: Dataset, *, counts: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": dataset.slug,
        "name": dataset.name,
        "description": dataset.description,
        "base_model": dataset.base_model,
        "region": dataset.region,
        "languages": list(dataset.languages),
        "role": getattr(dataset, "user_role", None),
    }
    if counts:
        data["conversations"] = dataset.conversations.aggregate(
            total=Count("id"),
            **{
                status: Count("id", filter=Q(status=status)) for status in ConversationStatus.values
            },
        )
        data["versions"] = dataset.versions.count()
    return data


def version_json(version: DatasetVersion, request: HttpRequest) -> dict[str, Any]:
    files = {}
    if version.is_built:
        for name, info in version.available_files():
            files[name] = {
                "sha256": info.get("sha256"),
                "size": info.get("size"),
                "examples": info.get("examples"),
                # Downloads take the same bearer token (read scope).
                "url": request.build_absolute_uri(
                    reverse("version_file", args=[version.dataset.slug, version.number, name])
                ),
            }
    return {
        "number": version.number,
        "status": version.status,
        "notes": version.notes,
        "examples": version.examples,
        "train_examples": version.train_examples,
        "validation_examples": version.validation_examples,
        "total_tokens": version.total_tokens,
        "created_at": _iso(version.created_at),
        "files": files,
    }


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    # Before PII detection ran there is nothing redacted to show.
    pending = conversation.status == ConversationStatus.PENDING_PII
    metadata = conversation.metadata or {}
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "messages": None if pending else redacted_messages(conversation),
        "tools": conversation.tools,
        "token_count": conversation.token_count,
        "flags": conversation.flags,
        "score_avg": conversation.score_avg,
        "feedback": {key: metadata[key] for key in FEEDBACK_KEYS if key in metadata},
        "batch": conversation.batch_id,
        "created_at": _iso(conversation.created_at),
    }


def batch_json(batch: ImportBatch) -> dict[str, Any]:
    return {
        "id": batch.pk,
        "name": batch.original_name,
        "status": batch.status,
        "format": batch.detected_format or batch.format,
        "read": batch.read,
        "imported": batch.imported,
        "duplicates": batch.duplicates,
        "invalid": batch.invalid,
        "error": batch.error or None,
        "created_at": _iso(batch.created_at),
    }


def job_json(job: FineTuneJob) -> dict[str, Any]:
    return {
        "id": job.pk,
        "status": job.status,
        "version": job.version.number,
        "provider": job.provider,
        "base_model": job.base_model,
        "method": job.method,
        "hyperparameters": job.hyperparameters,
        "fine_tuned_model": job.fine_tuned_model or None,
        "estimated_cost": str(job.estimated_cost) if job.estimated_cost is not None else None,
        "trained_tokens": job.trained_tokens,
        "error": job.error or None,
        "created_at": _iso(job.created_at),
    }


def eval_run_json(run: EvalRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "outcome": run.outcome,
        "model": run.model.ref,
        "version": run.version.number,
        "split": run.split,
        "examples": run.examples,
        "scored": run.scored,
        "failed": run.failed,
        "first_error": (run.metrics or {}).get("first_error") or run.error or None,
        "metrics": run.metrics,
        "simulated": run.is_simulated,
        "created_at": _iso(run.created_at),
    }


def model_json(model: Model, stage: str) -> dict[str, Any]:
    return {
        "id": model.pk,
        "ref": model.ref,
        "name": model.name,
        "provider": model.provider,
        "kind": model.kind,
        "stage": stage,
        "version": model.version.number if model.version else None,
        "job": model.job_id,
        "files": model.files,
        "simulated": model.is_simulated,
    }
