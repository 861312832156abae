"""RQ entry point of the "training-gpu" queue (``manage.py rqworker training-gpu``).

It takes ids, loads fresh rows and calls the service; the engine (and so torch) is imported
inside the job, never when a worker or the web process imports this module.
"""

from __future__ import annotations


def run_local_training(job_id: int, chain: str) -> str:
    from training.services.local import run_local_training_job

    return run_local_training_job(job_id=job_id, chain=chain)
