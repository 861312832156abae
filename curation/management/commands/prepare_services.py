"""Check Postgres and Redis, and create the database if it is missing (used by `make run`)."""

from __future__ import annotations

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

    def handle(self, *args: Any, **options: Any) -> None:
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
