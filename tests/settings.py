"""Test settings: the real Postgres and Redis, isolated from a developer's data."""

import os
import socket
import tempfile

os.environ.setdefault("DEBUG", "true")

from curation.settings import *  # noqa: F403
from curation.settings import RQ_QUEUES

# Redis database 15 keeps test jobs away from a running `make run`.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
for queue in RQ_QUEUES.values():
    queue["URL"] = REDIS_URL
MEDIA_ROOT = os.environ.get("TEST_MEDIA_ROOT") or tempfile.mkdtemp(prefix="curator-test-media-")
os.environ["TEST_MEDIA_ROOT"] = MEDIA_ROOT
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT = tempfile.mkdtemp(prefix="curator-test-static-")
# A test database per run, so parallel runs on one machine do not drop each other's.
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": os.environ.get("CURATOR_TEST_DB") or f"test_curator_{os.getpid()}"
}
# Services called in-process by tests start no heartbeat timer threads (they would outlive
# their test); the tests of the timer turn it back on.
CURATOR_JOB_TIMER_HEARTBEATS = False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Never the simulator of a running `make run` (port 8765): setup_demo serves this address
# itself while it trains the demo fine-tune. Exported, so worker processes agree.
if "CURATOR_SIMULATOR_URL" not in os.environ:
    os.environ["CURATOR_SIMULATOR_URL"] = f"http://127.0.0.1:{_free_port()}/v1"
CURATOR_SIMULATOR_URL = os.environ["CURATOR_SIMULATOR_URL"]
