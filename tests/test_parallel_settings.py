"""Each pytest-xdist worker gets its own Redis database, media folder and simulator port,
and the RQ workers it starts (which inherit its environment) derive the same ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

PRINT = (
    "import json, tests.settings as s;"
    "print(json.dumps([s.REDIS_URL, s.MEDIA_ROOT, s.CURATOR_SIMULATOR_URL, dict(s.os.environ)]))"
)


def settings_in(env: dict[str, str]) -> tuple[str, str, str, dict[str, str]]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "PYTEST_XDIST_WORKER",
            "CURATOR_SIMULATOR_URL",
            "CURATOR_TEST_SIMULATOR_OWNER",
            "TEST_MEDIA_ROOT",
        }
    }
    result = subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    redis_url, media, simulator, environ = json.loads(result.stdout.strip().splitlines()[-1])
    return redis_url, media, simulator, environ


def test_workers_count_down_from_the_base_redis_database_and_get_their_own_media(tmp_path):
    base = {"TEST_REDIS_URL": "redis://127.0.0.1:6379/9", "TEST_MEDIA_ROOT": str(tmp_path)}
    alone = settings_in(base)
    first = settings_in({**base, "PYTEST_XDIST_WORKER": "gw0"})
    second = settings_in({**base, "PYTEST_XDIST_WORKER": "gw1"})
    assert [alone[0], first[0], second[0]] == [
        "redis://127.0.0.1:6379/9",
        "redis://127.0.0.1:6379/9",
        "redis://127.0.0.1:6379/8",
    ]
    assert [alone[1], first[1], second[1]] == [
        str(tmp_path),
        str(tmp_path / "gw0"),
        str(tmp_path / "gw1"),
    ]


def test_a_worker_picks_its_own_simulator_port_and_its_rq_workers_keep_it():
    parent = settings_in({})
    worker = settings_in({**parent[3], "PYTEST_XDIST_WORKER": "gw0"})
    assert worker[2] != parent[2]
    # An RQ burst worker started by that xdist worker inherits its environment.
    rq_worker = settings_in(worker[3])
    assert rq_worker[2] == worker[2]


def test_a_worker_beyond_database_zero_is_refused_with_the_reason():
    result = subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={
            **os.environ,
            "TEST_REDIS_URL": "redis://127.0.0.1:6379/1",
            "PYTEST_XDIST_WORKER": "gw2",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "worker gw2 would need Redis database -1" in result.stderr
