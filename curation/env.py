"""Typed readers for settings that come from the environment.

Each helper fails loudly with the variable's name when a value cannot be parsed, so a
typo in production surfaces at start-up rather than as odd behaviour later.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from dotenv import dotenv_values


class EnvError(Exception):
    pass


def load_env_file(default: Path) -> Path | None:
    """Read `.env` (the file `make run` reads) into the environment, so `manage.py` works from a
    shell as it does under make. Variables already set win; `CURATOR_ENV_FILE` names another
    file, or none when empty. Returns the file read, if any."""
    named = os.environ.get("CURATOR_ENV_FILE")
    if named == "":
        return None
    path = Path(named) if named else default
    if not path.is_file():
        return None
    for name, value in dotenv_values(path).items():
        if value is not None:
            os.environ.setdefault(name, value)
    return path


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise EnvError(f"environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise EnvError(f"environment variable {name}={value!r} is not a boolean (use true/false)")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value.replace("_", ""))
    except ValueError:
        raise EnvError(f"environment variable {name}={value!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise EnvError(f"environment variable {name}={value!r} is not a number") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_json(name: str, default: Any) -> Any:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return json.loads(value)
    except ValueError as exc:
        raise EnvError(f"environment variable {name} is not valid JSON ({exc})") from None


def env_size(name: str, default: int) -> int:
    """A byte size: plain bytes or with a K/M/G suffix (binary multiples)."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    text = value.strip().upper().removesuffix("B")
    multiplier = 1
    for suffix, factor in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        if text.endswith(suffix):
            multiplier, text = factor, text[:-1]
            break
    try:
        return int(float(text) * multiplier)
    except ValueError:
        raise EnvError(f"environment variable {name}={value!r} is not a size like 512M") from None


def database_from_url(url: str, *, conn_max_age: int = 0, pool_size: int = 0) -> dict[str, Any]:
    """Django's DATABASES entry for a postgres:// URL.

    `conn_max_age` keeps a connection per thread for that many seconds (only for servers that
    reuse their threads); `pool_size` > 0 uses psycopg's pool instead, bounding connections
    per process whatever the number of threads.
    """
    if conn_max_age and pool_size:
        raise EnvError(
            "CURATOR_DB_CONN_MAX_AGE and CURATOR_DB_POOL_SIZE exclude each other: "
            "a pooled connection goes back to the pool after each request"
        )
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise EnvError(f"DATABASE_URL must be a postgres:// URL, got scheme {parsed.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "curator",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": conn_max_age,
        "CONN_HEALTH_CHECKS": bool(conn_max_age),
        "OPTIONS": (
            {"pool": {"min_size": 1, "max_size": pool_size, "timeout": 30}} if pool_size else {}
        ),
    }
