"""The development server (a thread per request) must not keep a PostgreSQL connection per thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from tests.conftest import ROOT, database_url
from tests.curation.test_production import free_port
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 150


def server_connections() -> int:
    """Connections to the test database other than this test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def start_runserver(port: int, **extra: str) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CURATOR_DB"))},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fetch(url: str, cookie: str) -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def logged_in_cookie() -> str:
    user = UserFactory(username="busy")
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def load(**env: str) -> tuple[int, int, int]:
    """REQUESTS parallel page loads on a fresh runserver: (connections before, peak, after)."""
    cookie = logged_in_cookie()
    port = free_port()
    server = start_runserver(port, **env)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(base + "accounts/login/", "")
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no runserver"
                time.sleep(0.2)
        before = server_connections()
        peak = before
        with ThreadPoolExecutor(max_workers=50) as pool:
            futures = [pool.submit(fetch, base, cookie) for _ in range(REQUESTS)]
            while not all(future.done() for future in futures):
                peak = max(peak, server_connections())
                time.sleep(0.05)
            statuses = [future.result() for future in futures]
        assert statuses == [200] * REQUESTS
        time.sleep(0.5)
        return before, peak, server_connections()
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_parallel_requests_leave_no_connection_per_thread():
    before, _, after = load()
    # The server's main thread may keep the one it used for its start-up checks.
    assert after <= before + 1


def test_a_pool_bounds_the_connections_of_parallel_requests():
    before, peak, after = load(CURATOR_DB_POOL_SIZE="4")
    assert peak <= before + 4 + 1
    assert after <= before + 4 + 1
