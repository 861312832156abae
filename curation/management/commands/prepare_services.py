"""Check Postgres and Redis, and create the database if it is missing (used by `make run`).

With --wait-url / --wait-worker-pid it instead waits until the services `make run` started
answer (the web server, the simulator, a worker that has loaded its models), so the URL and
the logins are printed only once everything works.
"""

from __future__ import annotations

import functools
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql

PG_HINT = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_HINT = 'start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


class Command(BaseCommand):
    help = "Check that PostgreSQL and Redis answer, and create the Curator database if needed."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--wait-url", action="append", default=[], help="wait until this URL answers"
        )
        parser.add_argument(
            "--wait-worker-pid", type=int, help="wait until the RQ worker with this PID is ready"
        )
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds (300)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["wait_url"] or options["wait_worker_pid"]:
            self.wait(options["wait_url"], options["wait_worker_pid"], options["timeout"])
            return
        self.prepare()

    def wait(self, urls: list[str], worker_pid: int | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending: dict[str, Callable[[], bool]] = {
            f"the service at {url}": functools.partial(_answers, url) for url in urls
        }
        if worker_pid:
            pending["the RQ worker"] = lambda: _worker_ready(worker_pid)
        while pending:
            pending = {name: check for name, check in pending.items() if not check()}
            if pending and time.monotonic() > deadline:
                raise CommandError(f"{' and '.join(pending)} did not answer within {timeout:.0f} s")
            if pending:
                time.sleep(0.5)

    def prepare(self) -> None:
        db = settings.DATABASES["default"]
        where = f"{db['HOST'] or 'local socket'}:{db['PORT'] or 5432}"
        try:
            with psycopg.connect(
                dbname="postgres",
                user=db["USER"],
                password=db["PASSWORD"],
                host=db["HOST"],
                port=db["PORT"] or None,
                connect_timeout=5,
                autocommit=True,
            ) as connection:
                exists = connection.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
                ).fetchone()
                if not exists:
                    connection.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"]))
                    )
                    self.stdout.write(f"Created database {db['NAME']}.")
        except psycopg.OperationalError as error:
            raise CommandError(
                f"PostgreSQL at {where} is unreachable ({str(error).strip()}); {PG_HINT}"
            ) from None
        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5).ping()
        except redis.RedisError as error:
            raise CommandError(
                f"Redis at {settings.REDIS_URL} is unreachable ({error}); {REDIS_HINT}"
            ) from None
        self.stdout.write("PostgreSQL and Redis are reachable.")


def _answers(url: str) -> bool:
    """Any HTTP answer counts (a 404 from the simulator's root still means it is up)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (a URL make run built)
            return True
    except urllib.error.HTTPError as error:
        return error.code < 500
    except (OSError, ValueError):
        return False


def _worker_ready(pid: int) -> bool:
    """The worker has registered and finished loading its models (RQ's state goes from
    "started" to "idle" or "busy" once its bootstrap is done)."""
    from rq import Worker

    try:
        connection = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
        return any(
            worker.pid == pid and worker.get_state() in ("idle", "busy")
            for worker in Worker.all(connection=connection)
        )
    except redis.RedisError:
        return False
