"""Ingest memory benchmark: a gunicorn web process under hostile ingest bodies (issue 27).

Starts the production app under gunicorn (one sync worker) against a scratch database, warms
the worker with one small valid ingest, then sends, one at a time:

1. 63 MB of `[{},{},…]` (21 million empty items; the limit is 20,000 per request);
2. 5 million lines of `{}` as JSON Lines (15 MB);
3. 63 MB of `[[[[…` (one item nested 63 million deep, never closed).

For each it resets the worker's peak RSS (/proc/PID/clear_refs), sends the body, and prints
the status, the wall time and the worker's peak RSS over its idle RSS; target ≤ 100 MB.

    DEBUG=true .venv/bin/python tests/benchmarks/bench_ingest_memory.py
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[2]
BENCH_DB = "curator_bench_ingest_memory"
TARGET_MB = 100
sys.path.insert(0, str(ROOT))

from tests.helpers import gunicorn_command  # noqa: E402 (after the path above)


def reset_database(env: dict[str, str]) -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_token(env: dict[str, str]) -> str:
    script = (
        "from django.contrib.auth import get_user_model;"
        "from curation.models import AccessToken, Dataset, Membership, Role;"
        "u = get_user_model().objects.create_user('bench', password='unused-bench-password');"
        "d = Dataset.objects.create(name='Bench', slug='bench');"
        "Membership.objects.create(dataset=d, user=u, role=Role.ADMIN);"
        "print(AccessToken.issue(user=u, name='bench', scope='ingest')[1])"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def post(port: int, secret: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request(
            "POST",
            "/api/v1/datasets/bench/conversations",
            body=body,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": content_type},
        )
        response = connection.getresponse()
        return response.status, response.read()
    except (BrokenPipeError, ConnectionResetError):
        # The server answered and closed before reading the rest of the body: its answer
        # is still waiting in the socket.
        try:
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            return 0, b"connection closed after the answer"
    finally:
        connection.close()


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def main() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "curation.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6"),
        "CURATOR_INGEST_RATE_LIMIT": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    reset_database(env)
    secret = make_token(env)
    port = free_port()
    server = subprocess.Popen(
        gunicorn_command(port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        time.sleep(1)
        [worker] = psutil.Process(server.pid).children()
        warm = json.dumps(
            [
                {
                    "messages": [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "hello"},
                    ]
                }
            ]
        ).encode()
        status, answer = post(port, secret, warm, "application/json")
        assert status == 200, answer
        attacks = [
            ("63 MB of [{},{},…]", b"[" + b"{}," * (21 * 1024**2) + b"{}]", "application/json"),
            ("5M lines of {} (JSONL)", b"{}\n" * 5_000_000, "application/jsonl"),
            ("63 MB of [[[[…", b"[" * (63 * 1024**2), "application/json"),
        ]
        print(
            f"{'body':<26} {'status':>6} {'seconds':>8} {'idle MB':>8} {'peak MB':>8} {'over idle':>9}"
        )
        worst = 0.0
        for name, body, content_type in attacks:
            idle = rss_mb(worker.pid, "VmRSS")
            Path(f"/proc/{worker.pid}/clear_refs").write_text("5")
            started = time.perf_counter()
            status, answer = post(port, secret, body, content_type)
            seconds = time.perf_counter() - started
            peak = rss_mb(worker.pid, "VmHWM")
            worst = max(worst, peak - idle)
            print(
                f"{name:<26} {status:>6} {seconds:>8.2f} {idle:>8.0f} {peak:>8.0f} {peak - idle:>9.0f}"
            )
            assert status in (0, 400, 413), answer[:300]
        print(f"worst peak over idle: {worst:.0f} MB (target ≤ {TARGET_MB} MB)")
        assert worst <= TARGET_MB
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
