"""The production build: collectstatic with DEBUG off, then pages and assets through gunicorn."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, database_url, free_port
from tests.helpers import gunicorn_command

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "production-test-" + "k" * 40


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def production_env(static_root: Path, **extra: str) -> dict[str, str]:
    """Production settings (curation.settings, DEBUG off) against the test database."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CURATOR_", "SECURE_")) and k not in {"DEBUG"}
    }
    return {
        **clean,
        "DJANGO_SETTINGS_MODULE": "curation.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(static_root),
        "DATABASE_URL": database_url(),
        "CURATOR_SSL_REDIRECT": "false",
        **extra,
    }


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http to loopback)
    try:
        with OPENER.open(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def collectstatic(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited: {server.stdout.read()[-3000:]}")  # type: ignore[union-attr]
        try:
            get(base + "/accounts/login/")
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer within a minute")


@pytest.fixture(scope="session")
def production_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The production static files, collected once for every gunicorn the tests start: the
    settings they vary (redirects, proxies, ingest limits) change nothing in them, and each
    collectstatic costs seconds of CPU."""
    static_root = tmp_path_factory.mktemp("production-static")
    built = collectstatic(production_env(static_root))
    assert built.returncode == 0, built.stderr[-3000:]
    return static_root


@pytest.fixture
def gunicorn(production_static: Path) -> Iterator:
    """gunicorn(**env) starts the production app on a free loopback port; returns its URL."""
    servers: list[subprocess.Popen] = []

    def start(**extra: str) -> str:
        env = production_env(production_static, **extra)
        port = free_port()
        server = subprocess.Popen(
            gunicorn_command(port),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        servers.append(server)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, server)
        return base

    yield start
    for server in servers:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout:
            server.stdout.close()


def test_collectstatic_succeeds_with_production_settings(tmp_path):
    result = collectstatic(production_env(tmp_path / "static"))
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    assert "css/curator.css" in manifest and "js/vendor/htmx" in manifest


def test_gunicorn_serves_the_login_page_and_hashed_static_files(gunicorn):
    base = gunicorn()
    status, headers, body = get(base + "/accounts/login/")
    assert status == 200, body[-2000:]
    page = body.decode()
    css = re.search(r'href="(/static/css/curator\.[0-9a-f]{12}\.css)"', page)
    script = re.search(r'src="(/static/js/vendor/htmx-[\d.]+\.min\.[0-9a-f]{12}\.js)"', page)
    assert css and script, page[:2000]
    for url in (css.group(1), script.group(1)):
        status, asset_headers, content = get(base + url)
        assert status == 200 and content
        assert "max-age=315360000" in asset_headers.get("Cache-Control", "")
    policy = headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy)
    assert script_src and "'unsafe-inline'" not in script_src.group(1)
    assert "'unsafe-eval'" not in script_src.group(1)
    # Pages behind the login redirect, they do not fail.
    status, headers, _ = get(base + "/")
    assert status == 302 and "/accounts/login/" in headers["Location"]


def test_forwarded_proto_is_ignored_unless_behind_a_proxy(gunicorn):
    direct = gunicorn(CURATOR_SSL_REDIRECT="true")
    status, headers, _ = get(direct + "/accounts/login/", **{"X-Forwarded-Proto": "https"})
    assert status == 301 and headers["Location"].startswith("https://")


def test_forwarded_proto_is_trusted_behind_a_proxy(gunicorn):
    proxied = gunicorn(CURATOR_SSL_REDIRECT="true", CURATOR_BEHIND_PROXY="true")
    status, headers, _ = get(proxied + "/accounts/login/", **{"X-Forwarded-Proto": "https"})
    assert status == 200
    assert "max-age=31536000" in headers["Strict-Transport-Security"]
    status, headers, _ = get(proxied + "/accounts/login/")
    assert status == 301 and headers["Location"].startswith("https://")
