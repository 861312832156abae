"""The simulator's stored objects and the error it answers with."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

ORGANIZATION_ID = "org-curatorsim"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

_ALPHABET = string.ascii_letters + string.digits


# HTTP status -> google.rpc.Code, for the Fireworks shape's error bodies.
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 413: 8, 429: 8, 500: 13, 501: 12, 503: 14}


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class ApiError(Exception):
    """An error the simulator answers with, shaped like OpenAI's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self, shape: str = "openai") -> dict[str, Any]:
        if shape == "fireworks":
            # Fireworks answers with a google.rpc.Status: a numeric code and a message.
            return {"code": _GRPC_CODES.get(self.status, 2), "message": self.message, "details": []}
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def to_api(self) -> dict[str, Any]:
        return {
            "object": "file",
            "id": self.id,
            "purpose": self.purpose,
            "filename": self.filename,
            "bytes": len(self.data),
            "created_at": self.created_at,
            "expires_at": None,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class PlanItem:
    offset: float
    kind: str  # "event", "status", "checkpoint", "fail" or "succeed"
    payload: dict[str, Any]


@dataclass
class SimJob:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    requested_hyperparameters: dict[str, Any]
    resolved_hyperparameters: dict[str, Any]
    created_clock: float
    speed: float
    planned_model: str
    plan: list[PlanItem] = field(default_factory=list)
    applied: int = 0
    status: str = "validating_files"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    result_files: list[str] = field(default_factory=list)
    finished_at: int | None = None
    estimated_finish: int | None = None
    error: dict[str, Any] | None = None
    # The API shape that created it ("openai", "together", "fireworks") and what that
    # shape keeps beside the common fields (LoRA settings, method, names).
    shape: str = "openai"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def created_at(self) -> int:
        return int(self.created_clock)

    def at(self, offset: float) -> int:
        return int(self.created_clock + offset / self.speed)

    def to_api(self) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": ORGANIZATION_ID,
            "result_files": list(self.result_files),
            "status": self.status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": dict(self.hyperparameters),
            "trained_tokens": self.trained_tokens,
            "error": dict(self.error) if self.error else None,
            "user_provided_suffix": self.suffix,
            "seed": self.seed,
            "estimated_finish": self.estimated_finish,
            "integrations": [],
            "metadata": dict(self.metadata) if self.metadata is not None else None,
            "method": self.extra.get("method")
            or {
                "type": "supervised",
                "supervised": {"hyperparameters": dict(self.hyperparameters)},
            },
        }
