"""A fixed-window request limit per user (whatever token they use), counted in Redis so every web process shares it."""

from __future__ import annotations

import time

import django_rq
from django.conf import settings
from redis.exceptions import RedisError

WINDOW_SECONDS = 60


def retry_after(*, user_id: int, bucket: str = "ingest") -> int | None:
    """Seconds to wait when this request is over the limit, else None (and it is counted).

    When Redis is unreachable the request goes through: ingest must not fail because the
    limiter's store is down.
    """
    limit = int(settings.CURATOR_INGEST_RATE_LIMIT)
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"curator:ratelimit:{bucket}:user:{user_id}:{window}"
    try:
        connection = django_rq.get_connection("default")
        pipeline = connection.pipeline()
        pipeline.incr(key)
        pipeline.expire(key, WINDOW_SECONDS + 5)
        count, _ = pipeline.execute()
    except (RedisError, OSError):
        return None
    if int(count) <= limit:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
