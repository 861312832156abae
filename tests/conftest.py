from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

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
        settings_dict = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}",
        }
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "rqworker",
                *(queues or ("default",)),
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
