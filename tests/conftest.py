from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import UserSettingsHolder, settings
from django.core.management import call_command
from django.db import connection, connections

from curation.models import Role
from tests.factories import DatasetFactory, MembershipFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# Files written by others (sources and licences in tests/data/README.md).
REFERENCE = DATA / "reference"
# Flags for every `manage.py rqworker` a test starts: Django's system checks (they load the
# URL conf and every view, about 0.5 s of CPU per start) are `manage.py check`'s business, not
# the worker's; the suite starts some 60 workers.
WORKER_START = ("--skip-checks",)
# The environment the settings were read from (tests/settings.py has run by now).
_SETTINGS_ENVIRONMENT = dict(os.environ)
# pytest's own bookkeeping, which no setting reads.
_VOLATILE = {"PYTEST_CURRENT_TEST"}


@pytest.fixture
def dataset(db):  # type: ignore[no-untyped-def]
    return DatasetFactory(name="Support", slug="support")


@pytest.fixture
def admin_user(dataset):  # type: ignore[no-untyped-def]
    user = UserFactory(username="admin")
    MembershipFactory(dataset=dataset, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def reviewer(dataset):  # type: ignore[no-untyped-def]
    user = UserFactory(username="reviewer")
    MembershipFactory(dataset=dataset, user=user, role=Role.REVIEWER)
    return user


@pytest.fixture
def outsider(db):  # type: ignore[no-untyped-def]
    """A logged-in user who is a member of some other dataset only."""
    user = UserFactory(username="outsider")
    MembershipFactory(dataset=DatasetFactory(slug="elsewhere"), user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def client_for(client):  # type: ignore[no-untyped-def]
    """client_for(user) logs the test client in as that user (None: anonymous)."""

    def login(user):  # type: ignore[no-untyped-def]
        client.logout()
        if user is not None:
            client.force_login(user)
        return client

    return login


@pytest.fixture
def clear_queues():  # type: ignore[no-untyped-def]
    import django_rq

    for name in ("default", "pii", "training", "training-gpu"):
        django_rq.get_queue(name).empty()
    yield


@pytest.fixture
def run_worker(clear_queues) -> Callable[..., subprocess.CompletedProcess]:  # type: ignore[no-untyped-def]
    """Run a real RQ worker in burst mode, in its own process, against the test database."""

    def run(*queues: str, timeout: int = 180) -> subprocess.CompletedProcess:
        queues = queues or ("default",)
        if _settings_as_read():
            return _forked_worker(queues, timeout)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
        }
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "rqworker",
                *queues,
                "--burst",
                *WORKER_START,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    return run


def free_port() -> int:
    """A port nothing listens on now (the system's pick), for a server a test starts or a
    connection that must be refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_url() -> str:
    """The test database as DATABASE_URL, for the processes a test starts."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _settings_as_read() -> bool:
    """Whether a new worker process would read the settings this process holds: nothing
    overridden in it, no variable changed since they were read."""
    if isinstance(settings._wrapped, UserSettingsHolder):
        return False
    now = {k: v for k, v in os.environ.items() if k not in _VOLATILE}
    return now == {k: v for k, v in _SETTINGS_ENVIRONMENT.items() if k not in _VOLATILE}


def _forked_worker(queues: tuple[str, ...], timeout: int) -> subprocess.CompletedProcess:
    """The same RQ burst worker in a fork of this process, which has Django, and often the PII
    engine, loaded already: a fresh `manage.py rqworker` spends 0.7 s of CPU on start-up, and
    4 s more on the engine for the pii queue. It is a process of its own all the same (its own
    database connection, its jobs forked from it), and what it prints is returned."""
    with tempfile.TemporaryFile() as output:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.dup2(output.fileno(), 1)
                os.dup2(output.fileno(), 2)
                # pytest's capture replaced these; the worker's logging writes to them.
                sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
                # The parent's connections are the parent's: dropped without closing them
                # (psycopg closes a connection only in the process that opened it), so this
                # process opens its own.
                for alias in [c.alias for c in connections.all(initialized_only=True)]:
                    del connections[alias]
                call_command("rqworker", *queues, "--burst", skip_checks=True)
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired(["rqworker", *queues], timeout)
            time.sleep(0.05)
        output.seek(0)
        printed = output.read().decode(errors="replace")
    returncode = os.waitstatus_to_exitcode(status)
    assert returncode == 0, printed[-3000:]
    return subprocess.CompletedProcess(["rqworker", *queues], returncode, printed, printed)
