"""RQ entry points of the "training" queue. Each takes ids, loads fresh rows and calls a
service; retries and polling are scheduled by the services with rq's scheduler."""

from __future__ import annotations

from training.services.runner import continue_finetune_job, run_finetune_job


def run_finetune(job_id: int) -> None:
    run_finetune_job(job_id=job_id)


def continue_finetune(job_id: int, chain: str) -> None:
    continue_finetune_job(job_id=job_id, chain=chain)
