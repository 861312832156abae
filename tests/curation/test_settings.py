from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from curation.checks import check_settings
from curation.env import EnvError, database_from_url, env_bool, env_int, env_size
from tests.conftest import ROOT


def test_typed_env_helpers_parse_and_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_SIZE", "512M")
    assert env_size("X_SIZE", 0) == 512 * 1024**2
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(EnvError, match="X_BOOL"):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(EnvError, match="X_INT='ten' is not an integer"):
        env_int("X_INT", 1)
    with pytest.raises(EnvError, match="postgres://"):
        database_from_url("mysql://root@localhost/db")
    assert database_from_url("postgres://u:p%40ss@db:6543/cur")["PASSWORD"] == "p@ss"


def test_system_checks_flag_bad_values(settings):
    settings.REDIS_URL = "http://nope"
    settings.CURATOR_IMPORT_BATCH_SIZE = 0
    settings.CURATOR_JOB_HEARTBEAT_TIMEOUT = 1
    settings.CURATOR_TOKEN_LIFETIME_DAYS = 0
    settings.AXES_FAILURE_LIMIT = 0
    settings.CURATOR_BEHIND_PROXY, settings.DEBUG, settings.CSRF_TRUSTED_ORIGINS = True, False, []
    ids = {problem.id for problem in check_settings()}
    assert {
        "curation.E001",
        "curation.E004",
        "curation.E007",
        "curation.E008",
        "curation.W001",
        "curation.W003",
    } <= ids


def test_system_checks_pass_with_defaults():
    assert [p.id for p in check_settings() if p.level >= 40] == []


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_secret_key_is_required_when_debug_is_off():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x" * 30 + "-production-secret-key-for-the-check-0123456789",
        ALLOWED_HOSTS="curator.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_migrations_are_current():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)


def test_ssl_redirect_and_proxy_trust_follow_the_environment():
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, s.SILENCED_SYSTEM_CHECKS)"
    )
    production = {"DEBUG": "false", "SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "example.com"}
    default = _manage("shell", "--no-imports", "-c", code, **production)
    assert default.stdout.split("\n")[0] == "True None []", default.stderr[-2000:]
    proxied = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        CURATOR_BEHIND_PROXY="true",
        CURATOR_SSL_REDIRECT="false",
        **production,
    )
    assert proxied.stdout.split("\n")[0] == (
        "False ('HTTP_X_FORWARDED_PROTO', 'https') ['security.W008']"
    ), proxied.stderr[-2000:]
