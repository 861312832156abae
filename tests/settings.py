"""Test settings: the real Postgres and Redis, isolated from a developer's data."""

import os
import socket
import tempfile
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("DEBUG", "true")

from django.core.exceptions import ImproperlyConfigured

from curation.settings import *  # noqa: F403
from curation.settings import RQ_QUEUES

# Under pytest-xdist each worker process is "gw0", "gw1", …; its RQ burst workers inherit the
# variable, so they derive the same Redis database, media folder and simulator port.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _worker_redis_url(base: str) -> str:
    """TEST_REDIS_URL's database for a lone run; counting down from it, one per xdist worker
    (gw0 the base, gw1 the one below…), so the default 15 stays clear of `make run`'s 0."""
    if not XDIST_WORKER:
        return base
    parts = urlsplit(base)
    number = int(parts.path.strip("/") or 0) - int(XDIST_WORKER.removeprefix("gw"))
    if number < 0:
        raise ImproperlyConfigured(
            f"TEST_REDIS_URL={base}: worker {XDIST_WORKER} would need Redis database {number}; "
            "start from a higher database or run fewer workers (-n)"
        )
    return urlunsplit(parts._replace(path=f"/{number}"))


# Redis database 15 keeps test jobs away from a running `make run`.
REDIS_URL = _worker_redis_url(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
for queue in RQ_QUEUES.values():
    queue["URL"] = REDIS_URL
# One temporary folder per run, a subfolder per xdist worker: two workers' databases number
# their rows alike, so their files (versions/1/…) would otherwise overwrite each other.
_MEDIA_BASE = os.environ.get("TEST_MEDIA_ROOT") or tempfile.mkdtemp(prefix="curator-test-media-")
os.environ["TEST_MEDIA_ROOT"] = _MEDIA_BASE
MEDIA_ROOT = os.path.join(_MEDIA_BASE, XDIST_WORKER) if XDIST_WORKER else _MEDIA_BASE
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT = tempfile.mkdtemp(prefix="curator-test-static-")
# A test database per run, so parallel runs on one machine do not drop each other's (each
# xdist worker is its own process; pytest-django adds "_gw0"… to the name as well).
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": os.environ.get("CURATOR_TEST_DB") or f"test_curator_{os.getpid()}"
}
# PostgreSQL as in production, but a transactional test is undone by deleting rows rather than
# by TRUNCATE (seconds of disk work per test; see tests/pg_backend/base.py).
DATABASES["default"]["ENGINE"] = "tests.pg_backend"  # noqa: F405
# Services called in-process by tests start no heartbeat timer threads (they would outlive
# their test); the tests of the timer turn it back on.
CURATOR_JOB_TIMER_HEARTBEATS = False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Never the simulator of a running `make run` (port 8765): setup_demo serves this address
# itself while it trains the demo fine-tune. Exported, so RQ worker processes agree; each xdist
# worker picks its own port rather than the one its parent exported (which marks it as its own).
_OWNER = XDIST_WORKER or "main"
_INHERITED_FROM = os.environ.get("CURATOR_TEST_SIMULATOR_OWNER")
if "CURATOR_SIMULATOR_URL" not in os.environ or _INHERITED_FROM not in (None, _OWNER):
    os.environ["CURATOR_SIMULATOR_URL"] = f"http://127.0.0.1:{_free_port()}/v1"
    os.environ["CURATOR_TEST_SIMULATOR_OWNER"] = _OWNER
CURATOR_SIMULATOR_URL = os.environ["CURATOR_SIMULATOR_URL"]
