"""The ``local`` provider: LoRA fine-tuning on the team's own GPUs.

A local fine-tune is not sent anywhere: the "training" worker hands it to a job on the
``training-gpu`` queue, and an RQ worker started with ``manage.py rqworker training-gpu`` on
a GPU machine trains it with ``training.local.engine`` (see ``training.services.local``).
This module wraps that queue (a :class:`~training.providers.base.LocalBackend`, not a
remote-API :class:`~training.providers.base.Provider`); the settings a local job takes are
``training.hyperparameters``'.

This module is torch-free. The web process builds this backend to check a launch (is a GPU
worker alive? is the extra installed?) and to cancel a queued job; only the GPU job imports
the engine.

Provider entry options (besides ``models``, each ``{"token_limit": N, "price_per_million": 0}``
keyed by a Hugging Face id or a directory on the GPU workers):

``cache_dir``              Hugging Face cache folder on the GPU workers (None: HF's default)
``device``                 "cuda", "cuda:1", "cpu"… (None: CUDA when present)
``queue``                  the RQ queue of the GPU workers (default "training-gpu")
``work_dir``               where a run writes before the adapter goes to storage (None: tmp)
``samples``                validation prompts answered after training (default 5)
``sample_max_new_tokens``  length of those answers (default 128)
``check_extra``            refuse launches where the ``local-training`` extra is missing
                           (default True; turn off where the web runs on a machine of its own)
"""

from __future__ import annotations

from typing import Any

import django_rq
from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus

from training.local import is_available
from training.providers.base import Availability, TransientProviderError
from training.providers.registry import ProviderConfig

GPU_QUEUE = "training-gpu"
DEFAULT_SAMPLES = 5
DEFAULT_SAMPLE_TOKENS = 128


class LocalProvider:
    """LoRA training on GPU workers of this installation.

    The "remote job" of a local fine-tune is the RQ job on the GPU queue; cancelling takes
    it off the queue if it has not started, and a running one stops at its next step when it
    sees the row cancelled.
    """

    def __init__(self, *, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self.label = config.label

    # -- settings -------------------------------------------------------------------------
    def option(self, name: str, default: Any = None) -> Any:
        value = self.config.options.get(name)
        return default if value is None or value == "" else value

    @property
    def queue_name(self) -> str:
        return str(self.option("queue", GPU_QUEUE))

    @property
    def cache_dir(self) -> str | None:
        return self.option("cache_dir")

    @property
    def device(self) -> str | None:
        return self.option("device")

    @property
    def work_dir(self) -> str | None:
        return self.option("work_dir")

    @property
    def sample_count(self) -> int:
        return int(self.option("samples", DEFAULT_SAMPLES))

    @property
    def sample_max_new_tokens(self) -> int:
        return int(self.option("sample_max_new_tokens", DEFAULT_SAMPLE_TOKENS))

    # -- can it run? ----------------------------------------------------------------------
    def queue(self) -> Any:
        return django_rq.get_queue(self.queue_name)

    def gpu_workers(self) -> list[str]:
        """Names of the RQ workers registered for the GPU queue.

        A worker's registration lives as long as its heartbeat key in Redis: one killed
        without a chance to unregister still counts until that key expires (minutes).
        """
        return sorted(worker.name for worker in Worker.all(queue=self.queue()))

    def availability(self) -> Availability:
        """Why a local job could not run now (nothing imports torch here)."""
        problems: list[str] = []
        if self.option("check_extra", True) and not is_available():
            problems.append(
                f"{self.label}: the local-training extra (torch, transformers, peft) is not "
                "installed here: pip install -e '.[local-training]'"
            )
        workers: list[str] = []
        try:
            workers = self.gpu_workers()
        except RedisError as error:
            problems.append(f"{self.label}: cannot look for GPU workers in Redis ({error})")
        else:
            if not workers:
                problems.append(
                    f"{self.label}: no worker is listening on the {self.queue_name} queue; "
                    f"start one on a GPU machine with `manage.py rqworker {self.queue_name}`"
                )
        return Availability(problems=tuple(problems), workers=tuple(workers))

    # -- stopping -------------------------------------------------------------------------
    def cancel(self, job_id: str) -> None:
        """Take the GPU job off its queue if it has not started. A running one is stopped
        by the row's status, which the caller sets: the trainer checks it between steps."""
        try:
            rq_job = RQJob.fetch(job_id, connection=self.queue().connection)
            if rq_job.get_status() in (RQStatus.QUEUED, RQStatus.SCHEDULED, RQStatus.DEFERRED):
                rq_job.cancel()
        except NoSuchJobError:
            pass
        except RedisError as error:
            raise TransientProviderError(f"cannot reach Redis to cancel ({error})") from None
