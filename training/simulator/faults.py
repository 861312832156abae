"""Scripted failures for the simulator's endpoints.

A spec such as ``jobs.create=500,429;files.create=timeout`` queues outcomes per endpoint:
each call to that endpoint consumes the next outcome, and once the queue is empty the
endpoint behaves normally again. That makes retry paths reproducible call by call.

Endpoint names are logical (``jobs.create`` is OpenAI's ``POST /v1/fine_tuning/jobs``,
Together's ``POST /v1/fine-tunes`` and Fireworks' ``supervisedFineTuningJobs`` create), and
an unprefixed entry gives every API shape its own copy of the queue, so
``jobs.create=500,timeout`` makes the first two job creations of each shape fail. Prefix
an entry with a shape (``together:jobs.create=500``) to script one shape only.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

ENDPOINTS: frozenset[str] = frozenset(
    {
        "files.create",
        "files.list",
        "files.retrieve",
        "files.content",
        "files.delete",
        "jobs.create",
        "jobs.retrieve",
        "jobs.list",
        "jobs.cancel",
        "jobs.events",
        "jobs.checkpoints",
        "jobs.metrics",
        "jobs.download",
        "files.upload",
        "models.limits",
        "chat.completions",
        "deployments.create",
        "deployments.retrieve",
        "deployments.list",
        "deployments.delete",
    }
)
SHAPES: tuple[str, ...] = ("openai", "azure", "together", "fireworks")

TIMEOUT = "timeout"
DAILY_LIMIT = "429daily"


class FaultSpecError(ValueError):
    """The fault spec cannot be parsed; the message names the offending part."""


@dataclass(frozen=True)
class Fault:
    """One scripted outcome: an HTTP error status, a daily-limit 429, or a dropped reply."""

    kind: str  # "status", "daily_limit" or "timeout"
    status: int = 0

    @property
    def takes_effect(self) -> bool:
        # A dropped reply models a request the server processed before the connection
        # died, which is the case that makes blind client retries create duplicates.
        return self.kind == "timeout"

    def __str__(self) -> str:
        if self.kind == "timeout":
            return TIMEOUT
        if self.kind == "daily_limit":
            return DAILY_LIMIT
        return str(self.status)


def parse_fault(token: str) -> Fault:
    text = token.strip().lower()
    if text == TIMEOUT:
        return Fault(kind="timeout")
    if text == DAILY_LIMIT:
        return Fault(kind="daily_limit", status=429)
    if text.isdigit() and 400 <= int(text) <= 599:
        return Fault(kind="status", status=int(text))
    raise FaultSpecError(
        f"unknown fault {token.strip()!r}: use an HTTP status 400-599, {DAILY_LIMIT!r} or {TIMEOUT!r}"
    )


def parse_faults(spec: str | None) -> dict[str, list[Fault]]:
    """Parse ``[shape:]endpoint=outcome,outcome;…`` into outcomes per (prefixed) endpoint."""
    plan: dict[str, list[Fault]] = {}
    if not spec or not spec.strip():
        return plan
    for part in spec.split(";"):
        if not part.strip():
            continue
        name, sep, outcomes = part.partition("=")
        name = name.strip()
        if not sep or not outcomes.strip():
            raise FaultSpecError(f"fault entry {part.strip()!r} must look like endpoint=500,429")
        shape, colon, bare = name.rpartition(":")
        if colon and shape not in SHAPES:
            raise FaultSpecError(
                f"unknown API shape {shape!r} in fault spec (known: {', '.join(SHAPES)})"
            )
        if (bare if colon else name) not in ENDPOINTS:
            known = ", ".join(sorted(ENDPOINTS))
            raise FaultSpecError(f"unknown endpoint {name!r} in fault spec (known: {known})")
        plan.setdefault(name, []).extend(
            parse_fault(token) for token in outcomes.split(",") if token.strip()
        )
    return plan


class FaultPlan:
    """Thread-safe queues of pending faults, consumed one per call."""

    def __init__(self, spec: str | dict[str, list[Fault]] | None = None) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {}
        self.set(spec)

    def set(self, spec: str | dict[str, list[Fault]] | None) -> None:
        """Replace every pending fault with those of ``spec``."""
        plan = spec if isinstance(spec, dict) else parse_faults(spec)
        queues: dict[str, deque[Fault]] = {}
        for name, faults in plan.items():
            shape, colon, bare = name.rpartition(":")
            if (bare if colon else name) not in ENDPOINTS or (colon and shape not in SHAPES):
                raise FaultSpecError(f"unknown endpoint {name!r} in fault plan")
            # Unprefixed entries script every shape, each with a queue of its own.
            for target in [name] if colon else [f"{s}:{name}" for s in SHAPES]:
                queues.setdefault(target, deque()).extend(faults)
        with self._lock:
            self._queues = {name: queue for name, queue in queues.items() if queue}

    def take(self, endpoint: str, shape: str = "openai") -> Fault | None:
        with self._lock:
            queue = self._queues.get(f"{shape}:{endpoint}")
            if not queue:
                return None
            return queue.popleft()

    def pending(self, shape: str = "openai") -> dict[str, list[str]]:
        """What is still scripted for one shape, by endpoint."""
        prefix = f"{shape}:"
        with self._lock:
            return {
                name.removeprefix(prefix): [str(f) for f in queue]
                for name, queue in self._queues.items()
                if queue and name.startswith(prefix)
            }
