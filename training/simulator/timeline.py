"""How a simulated job unfolds: resolved hyperparameters, a loss curve, checkpoints, events.

Everything is decided up front from the job's seed and files, as items at offsets in
simulated seconds; the state applies them as the clock passes each offset.
"""

from __future__ import annotations

import base64
import csv
import io
import math
import random
from collections.abc import Iterable
from typing import Any

from training.simulator.records import PlanItem, SimJob, StoredFile, new_id
from training.simulator.validation import TrainingFileError, summarize_training_file

# Simulated seconds spent in each phase before training; training itself lasts one
# simulated second a step, squeezed so that a huge job still ends within MAX_RUNNING.
VALIDATING_SECONDS = 5.0
QUEUED_SECONDS = 5.0
MAX_RUNNING_SECONDS = 300.0
MAX_LOGGED_STEPS = 100
KEPT_CHECKPOINTS = 3

RESULT_CSV_COLUMNS = (
    "step",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "train_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


def _resolve_hyperparameters(requested: dict[str, Any], examples: int) -> dict[str, Any]:
    """Fill "auto" the way OpenAI roughly does: more epochs for tiny sets, batch ~0.2%."""
    epochs = requested.get("n_epochs", "auto")
    if epochs == "auto":
        epochs = 3
        if examples * epochs < 100:
            epochs = min(10, math.ceil(100 / max(examples, 1)))
        elif examples * epochs > 25_000:
            epochs = max(1, 25_000 // examples)
    batch = requested.get("batch_size", "auto")
    if batch == "auto":
        batch = max(1, min(256, round(examples * 0.002)))
    multiplier = requested.get("learning_rate_multiplier", "auto")
    if multiplier == "auto":
        multiplier = 1.8 if batch <= 8 else 2.0
    return {
        "n_epochs": int(epochs),
        "batch_size": int(batch),
        "learning_rate_multiplier": float(multiplier),
    }


def _metrics_series(
    *, rng: random.Random, total_steps: int, steps_per_epoch: int, has_validation: bool
) -> list[dict[str, Any]]:
    start = rng.uniform(1.8, 2.6)
    floor = rng.uniform(0.25, 0.55)
    rows: list[dict[str, Any]] = []
    for step in range(1, total_steps + 1):
        progress = step / total_steps
        smooth = floor + (start - floor) * math.exp(-3.5 * progress)
        # Noise shrinks as training settles, so the curve still trends down step to step
        # on average while looking like a real one.
        train_loss = max(0.01, smooth * (1 + rng.gauss(0, 0.06 * (1 - 0.5 * progress))))
        train_acc = min(0.999, max(0.0, 1 - train_loss / (start * 1.25)))
        row: dict[str, Any] = {
            "step": step,
            "train_loss": round(train_loss, 5),
            "train_mean_token_accuracy": round(train_acc, 5),
            "valid_loss": None,
            "valid_mean_token_accuracy": None,
            "full_valid_loss": None,
            "full_valid_mean_token_accuracy": None,
        }
        if has_validation:
            valid_loss = max(0.01, smooth * 1.08 * (1 + rng.gauss(0, 0.05)))
            row["valid_loss"] = round(valid_loss, 5)
            row["valid_mean_token_accuracy"] = round(
                min(0.999, max(0.0, 1 - valid_loss / (start * 1.25))), 5
            )
            if step % steps_per_epoch == 0 or step == total_steps:
                full = smooth * 1.1
                row["full_valid_loss"] = round(full, 5)
                row["full_valid_mean_token_accuracy"] = round(1 - full / (start * 1.25), 5)
        rows.append(row)
    return rows


def _result_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RESULT_CSV_COLUMNS)
    for row in rows:
        values = {**row, "train_accuracy": row["train_mean_token_accuracy"]}
        writer.writerow("" if values[c] is None else values[c] for c in RESULT_CSV_COLUMNS)
    # OpenAI serves result files base64-encoded; mirroring that keeps clients honest.
    return base64.b64encode(out.getvalue().encode())


def _metrics_message(row: dict[str, Any], total_steps: int) -> str:
    text = f"Step {row['step']}/{total_steps}: training loss={row['train_loss']:.2f}"
    if row["valid_loss"] is not None:
        text += f", validation loss={row['valid_loss']:.2f}"
    if row["full_valid_loss"] is not None:
        text += f", full validation loss={row['full_valid_loss']:.2f}"
    return text


def event(message: str, *, level: str = "info", **extra: Any) -> dict[str, Any]:
    return {"message": message, "level": level, "type": "message", "data": {}, **extra}


def job_method(job: SimJob) -> str:
    """ "dpo" or "supervised", whichever API shape created the job."""
    if job.extra.get("method_type") == "dpo":
        return "dpo"
    if (job.extra.get("training_method") or {}).get("method") == "dpo":
        return "dpo"
    if job.extra.get("collection") == "dpoJobs":
        return "dpo"
    return "supervised"


def plan_job(job: SimJob, *, training: StoredFile, validation: StoredFile | None) -> list[PlanItem]:
    """Lay out the whole life of a new job: its validation verdict, steps and checkpoints."""
    plan: list[PlanItem] = []
    text = f"Validating training file: {training.id}"
    if validation is not None:
        text += f" and validation file: {validation.id}"
    plan.append(PlanItem(0.0, "event", event(text)))

    failure: tuple[str, str, str] | None = None
    method = job_method(job)
    try:
        summary = summarize_training_file(training.data, method=method)
    except TrainingFileError as exc:
        failure = ("invalid_training_file", "training_file", str(exc))
        summary = None
    if failure is None and validation is not None:
        try:
            summarize_training_file(
                validation.data, min_examples=1, label="Validation file", method=method
            )
        except TrainingFileError as exc:
            failure = ("invalid_validation_file", "validation_file", str(exc))
    t = VALIDATING_SECONDS
    if failure is not None or summary is None:
        code, param, detail = failure or ("invalid_training_file", "training_file", "")
        which = "training" if param == "training_file" else "validation"
        message = f"The job failed due to an invalid {which} file. {detail}"
        plan.append(PlanItem(t, "event", event(message, level="error")))
        plan.append(
            PlanItem(t, "fail", {"error": {"code": code, "message": message, "param": param}})
        )
        return plan

    plan.append(PlanItem(t, "event", event("Files validated, moving job to queued state")))
    plan.append(PlanItem(t, "status", {"status": "queued"}))
    t += QUEUED_SECONDS

    hp = _resolve_hyperparameters(job.requested_hyperparameters, summary.examples)
    job.resolved_hyperparameters = hp
    steps_per_epoch = math.ceil(summary.examples / hp["batch_size"])
    total_steps = steps_per_epoch * hp["n_epochs"]
    step_seconds = min(1.0, MAX_RUNNING_SECONDS / total_steps)
    end = t + total_steps * step_seconds
    plan.append(
        PlanItem(
            t,
            "status",
            {
                "status": "running",
                "hyperparameters": hp,
                "estimated_finish": job.at(end + 3),
            },
        )
    )
    plan.append(PlanItem(t, "event", event("Fine-tuning job started")))

    rng = random.Random(job.seed * 1_000_003 + summary.examples)
    rows = _metrics_series(
        rng=rng,
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        has_validation=validation is not None,
    )
    log_every = max(1, math.ceil(total_steps / MAX_LOGGED_STEPS))
    kept_epochs = range(max(1, hp["n_epochs"] - KEPT_CHECKPOINTS + 1), hp["n_epochs"] + 1)
    for row in rows:
        step = row["step"]
        at = t + step * step_seconds
        if step % log_every == 0 or step == total_steps or step == 1:
            data = {k: v for k, v in row.items() if v is not None}
            data["total_steps"] = total_steps
            plan.append(
                PlanItem(
                    at,
                    "event",
                    event(_metrics_message(row, total_steps), type="metrics", data=data),
                )
            )
        epoch, at_epoch_end = divmod(step, steps_per_epoch)
        if at_epoch_end == 0 and epoch in kept_epochs:
            final = epoch == hp["n_epochs"]
            name = job.planned_model if final else f"{job.planned_model}:ckpt-step-{step}"
            metrics = {k: v for k, v in row.items() if k != "step"}
            metrics["step"] = float(step)
            plan.append(
                PlanItem(
                    at,
                    "checkpoint",
                    {
                        "object": "fine_tuning.job.checkpoint",
                        "id": new_id("ftckpt_"),
                        "fine_tuned_model_checkpoint": name,
                        "fine_tuning_job_id": job.id,
                        "step_number": step,
                        "metrics": metrics,
                    },
                )
            )
            plan.append(
                PlanItem(
                    at,
                    "event",
                    event(f"Checkpoint created at step {step} with Snapshot ID: {name}"),
                )
            )

    plan.append(
        PlanItem(end + 1, "event", event(f"New fine-tuned model created: {job.planned_model}"))
    )
    plan.append(PlanItem(end + 2, "event", event("Evaluating model against our usage policies")))
    plan.append(
        PlanItem(
            end + 3,
            "event",
            event("Usage policy evaluations completed, model is now enabled for sampling"),
        )
    )
    plan.append(
        PlanItem(
            end + 3,
            "succeed",
            {
                "trained_tokens": summary.tokens * hp["n_epochs"],
                "result_csv": _result_csv(rows),
            },
        )
    )
    plan.append(PlanItem(end + 3, "event", event("The job has successfully completed")))
    return plan
