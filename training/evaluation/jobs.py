"""RQ entry points of the "eval" queue (and "training-gpu" for local models). Each takes an
id, loads fresh rows and calls a service; the services record failures on the row."""

from __future__ import annotations

from training.evaluation.services.comparisons import run_comparison_job
from training.evaluation.services.prescore import run_prescore_job
from training.evaluation.services.runs import run_eval_job


def run_evaluation(run_id: int) -> None:
    run_eval_job(run_id=run_id)


def run_comparison(comparison_id: int) -> None:
    run_comparison_job(comparison_id=comparison_id)


def run_prescore(run_id: int) -> None:
    run_prescore_job(run_id=run_id)
