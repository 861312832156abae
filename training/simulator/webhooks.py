"""Signed webhook delivery in the Standard Webhooks scheme that OpenAI (and its SDK) use.

The signature is ``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the
key is the base64-decoded part of a ``whsec_…`` secret (or the raw secret otherwise),
which is exactly what ``OpenAI().webhooks.unwrap`` checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from training.simulator.records import new_id

logger = logging.getLogger(__name__)

EVENT_TYPES = {
    "succeeded": "fine_tuning.job.succeeded",
    "failed": "fine_tuning.job.failed",
    "cancelled": "fine_tuning.job.cancelled",
}
RETRY_DELAYS = (0.2, 1.0, 5.0)


def generate_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _signing_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def sign(*, secret: str, webhook_id: str, timestamp: int, payload: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + payload
    digest = hmac.new(_signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    *, secret: str, payload: bytes, webhook_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    webhook_id = webhook_id or new_id("wh_", 32)
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret=secret, webhook_id=webhook_id, timestamp=timestamp, payload=payload
        ),
        "content-type": "application/json",
    }


def job_event(job: dict[str, Any], *, created_at: int) -> dict[str, Any] | None:
    event_type = EVENT_TYPES.get(job["status"])
    if event_type is None:
        return None
    return {
        "object": "event",
        "id": new_id("evt_", 32),
        "type": event_type,
        "created_at": created_at,
        "data": {"id": job["id"]},
    }


@dataclass
class Delivery:
    event: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender:
    """Posts job events to one URL from a background thread, retrying failed deliveries."""

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        clock: Callable[[], float] = time.time,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        if urlparse(url).scheme not in {"http", "https"}:
            raise ValueError(f"webhook URL must be http(s), got {url!r}")
        self.url = url
        self.secret = secret
        self.clock = clock
        self.retry_delays = retry_delays
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        # The simulator only ever talks to the configured URL; ignore proxy variables
        # so a developer's proxy settings cannot swallow local deliveries.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._thread = threading.Thread(target=self._run, name="sim-webhooks", daemon=True)
        self._thread.start()

    def on_job_finished(self, job: dict[str, Any]) -> None:
        event = job_event(job, created_at=int(self.clock()))
        if event is not None:
            delivery = Delivery(event=event)
            self.deliveries.append(delivery)
            self._queue.put(delivery)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted; True when all were."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _post(self, payload: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")  # noqa: S310 - scheme checked in __init__
        try:
            with self._opener.open(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            try:
                if delivery is None:
                    return
                self._deliver(delivery)
            finally:
                self._queue.task_done()

    def _deliver(self, delivery: Delivery) -> None:
        payload = json.dumps(delivery.event).encode()
        # One message id for all attempts, so receivers can de-duplicate retries.
        webhook_id = new_id("wh_", 32)
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            if delay:
                time.sleep(delay)
            delivery.attempts = attempt + 1
            headers = signed_headers(
                secret=self.secret,
                payload=payload,
                webhook_id=webhook_id,
                # Receivers check the timestamp against their own wall clock, so this
                # must be real time even when the simulator runs on a fake clock.
                timestamp=int(time.time()),
            )
            try:
                delivery.status = self._post(payload, headers)
                delivery.error = None
            except (OSError, urllib.error.URLError) as exc:
                delivery.status, delivery.error = None, str(exc)
            if delivery.delivered:
                return
            logger.warning(
                "webhook %s to %s failed (attempt %d): %s",
                delivery.event["type"],
                self.url,
                delivery.attempts,
                delivery.error or delivery.status,
            )
