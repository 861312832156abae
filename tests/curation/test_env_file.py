"""Settings read `.env` themselves, so the documented commands work from a shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

_OUTSIDE = {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def _manage(*args: str, env_file: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
    return subprocess.run(
        [str(Path(sys.executable)), "manage.py", *args],
        cwd=ROOT,
        env={**clean, "CURATOR_ENV_FILE": str(env_file), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_evaluate_help_works_from_a_shell_with_debug_set_only_in_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# as make run writes it\nDEBUG=true\n")
    result = _manage("evaluate", "--help", env_file=env_file)
    assert result.returncode == 0, result.stderr
    assert "--dataset" in result.stdout


def test_a_missing_setting_is_one_line_naming_it_not_a_traceback(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=false\n")
    result = _manage("evaluate", "--help", env_file=env_file)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY is required" in lines[0]
    assert ".env" in lines[0]


def test_a_variable_set_in_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\nCURATOR_EVAL_CONCURRENCY=3\n")
    code = "from django.conf import settings as s; print(s.CURATOR_EVAL_CONCURRENCY)"
    from_file = _manage("shell", "--no-imports", "-c", code, env_file=env_file)
    overridden = _manage(
        "shell", "--no-imports", "-c", code, env_file=env_file, CURATOR_EVAL_CONCURRENCY="5"
    )
    assert from_file.stdout.strip() == "3", from_file.stderr[-2000:]
    assert overridden.stdout.strip() == "5", overridden.stderr[-2000:]


def test_a_malformed_value_in_the_env_file_names_the_variable(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=perhaps\n")
    result = _manage("check", env_file=env_file)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "DEBUG='perhaps' is not a boolean" in result.stderr
