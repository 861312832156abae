"""The RQ worker class: loads heavy models once in the parent, before jobs are forked.

RQ runs each job in a forked child, so anything a job loads is thrown away when it ends.
Loading the spaCy/Presidio engine or tiktoken's ranks in every job would cost seconds per
job; loaded here, every child shares them copy-on-write.
"""

from __future__ import annotations

import logging
from typing import Any

from rq.worker import Worker

logger = logging.getLogger(__name__)


class CuratorWorker(Worker):
    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        names = set(self.queue_names())
        if names & {"default", "pii"}:
            from curation.tokens import get_encoding

            get_encoding()
        if "pii" in names:
            from curation.pii.engine import get_engine

            get_engine()
            logger.info("PII engine loaded for %s", self.name)
        if "training-gpu" in names:
            # Nothing is preloaded for GPU jobs: torch is imported (and CUDA set up) in the
            # forked job itself, since CUDA does not survive a fork. Only say early when
            # the jobs would fail for want of the extra.
            from training.local import is_available

            if not is_available():
                logger.warning(
                    "%s listens on training-gpu but the local-training extra is missing: "
                    "pip install -e '.[local-training]'",
                    self.name,
                )
        # Nothing loaded above may hold a database connection into the forked children.
        from django.db import connections

        connections.close_all()
        # A psycopg pool (CURATOR_DB_POOL_SIZE) must not be inherited by forked children
        # either: its sockets and threads belong to this process.
        # (Only an existing pool: reading `.pool` would open one.)
        for connection in connections.all(initialized_only=True):
            if connection.alias in getattr(connection, "_connection_pools", {}):
                connection.close_pool()
