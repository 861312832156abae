"""RQ entry point of the "training-gpu" queue (``manage.py rqworker training-gpu``).

It takes ids, loads fresh rows and calls the service; the engine (and so torch) is imported
inside the job's training processes, never when a worker or the web process imports this
module.
"""

from __future__ import annotations

from training.services.local.gpu_job import run_local_training_job


def run_local_training(job_id: int, chain: str) -> str:
    return run_local_training_job(job_id=job_id, chain=chain)
