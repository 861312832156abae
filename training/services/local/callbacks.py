"""What the GPU job hears from the trainer, written into the job's tables as it comes:
events, per-step metrics, validation losses and checkpoints (copied to storage); and the
cancel check the trainer asks between steps."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from curation.models import JobStatus
from training.local import NullCallbacks
from training.models import FineTuneCheckpoint, FineTuneEvent, FineTuneJob
from training.services.local_artifacts import save_tree, storable
from training.services.sync import store_metrics

# Event levels as the job page colours them (the engine says "warning").
_LEVELS = {"warning": "warn"}


def stop_check_seconds() -> float:
    """How long the trainer trusts its last look at the row before asking again."""
    return float(getattr(settings, "CURATOR_LOCAL_STOP_CHECK_SECONDS", 2.0))


def forward_message(callbacks: JobCallbacks, message: dict[str, Any]) -> None:
    """One line from rank 0 into the job's tables."""
    kind = message.get("kind")
    if kind == "event":
        callbacks.on_event(message["level"], message["message"])
    elif kind == "step":
        callbacks.on_step(
            message["step"],
            message["total_steps"],
            message["train_loss"],
            message["learning_rate"],
            message["tokens_seen"],
        )
    elif kind == "eval":
        callbacks.on_eval(message["step"], message["valid_loss"])
    elif kind == "checkpoint":
        callbacks.on_checkpoint(message["step"], Path(message["path"]))


class JobCallbacks(NullCallbacks):
    """The engine's reports, written into the job's tables as they come."""

    def __init__(self, *, job: FineTuneJob, chain: str, prefix: str) -> None:
        self.job = job
        self.chain = chain
        self.prefix = prefix
        self.events = 0
        # The latest step's metrics: validation and checkpoints come right after its step.
        self.row: dict[str, Any] = {}
        self.stopping = False
        self.checked_at = -math.inf
        self.started: tuple[float, int] | None = None

    def on_event(self, level: str, message: str) -> None:
        self.events += 1
        FineTuneEvent.objects.create(
            job=self.job,
            remote_id=f"local-{self.chain[:12]}-{self.events:06d}",
            created_at=timezone.now(),
            level=_LEVELS.get(level, level)[:16],
            message=storable(message),
        )

    def _metrics(self, step: int, **values: Any) -> dict[str, Any]:
        if self.row.get("step") != step:
            self.row = {"step": step}
        self.row.update(values)
        store_metrics(self.job, [self.row], source="local")
        return self.row

    def on_step(
        self,
        step: int,
        total_steps: int,
        train_loss: float,
        learning_rate: float,
        tokens_seen: int,
    ) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started = (now, step)
        self._metrics(
            step,
            train_loss=train_loss,
            learning_rate=learning_rate,
            tokens_seen=tokens_seen,
            total_steps=total_steps,
        )
        fields: dict[str, Any] = {}
        began, first_step = self.started
        if step > first_step:
            per_step = (now - began) / (step - first_step)
            fields["estimated_finish"] = timezone.now() + timedelta(
                seconds=per_step * (total_steps - step)
            )
        self.job.beat(done=step, total=total_steps, **fields)
        if step == 1 or step == total_steps or step % max(1, total_steps // 10) == 0:
            self.on_event(
                "info",
                f"Step {step}/{total_steps}: training loss {train_loss:.4f}, "
                f"learning rate {learning_rate:.3g}",
            )

    def on_eval(self, step: int, valid_loss: float) -> None:
        row = self._metrics(step, valid_loss=valid_loss)
        self.on_event(
            "info",
            f"Step {step}: validation loss {valid_loss:.4f}"
            + (f" (training loss {row['train_loss']:.4f})" if "train_loss" in row else ""),
        )

    def on_checkpoint(self, step: int, path: Path) -> None:
        where = f"{self.prefix}/checkpoints/{path.name}"
        save_tree(path, where)
        metrics = {
            key: self.row[key]
            for key in ("train_loss", "valid_loss")
            if self.row.get("step") == step and key in self.row
        }
        FineTuneCheckpoint.objects.update_or_create(
            job=self.job,
            remote_id=f"step-{step}",
            defaults={
                "created_at": timezone.now(),
                "step": step,
                "fine_tuned_model_checkpoint": where,
                "metrics": metrics,
            },
        )
        self.on_event("info", f"Checkpoint at step {step} saved to {where}")

    def should_stop(self) -> bool:
        """True once the row is cancelled or no longer this chain's; the answer is kept for
        a couple of seconds so a fast loop does not ask the database at every step."""
        if self.stopping:
            return True
        now = time.monotonic()
        if now - self.checked_at < stop_check_seconds():
            return False
        self.checked_at = now
        self.stopping = not FineTuneJob.objects.filter(
            pk=self.job.pk, status=JobStatus.RUNNING, chain=self.chain
        ).exists()
        if self.stopping:
            self.on_event("warning", "Stopping: the job was cancelled")
        return self.stopping
