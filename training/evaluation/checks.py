"""System checks for the evaluation settings (ids training.E1xx)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.compatibility)
def check_eval_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    problems: list[Error] = []
    endpoints = getattr(settings, "CURATOR_EVAL_ENDPOINTS", [])
    if not isinstance(endpoints, list):
        return [
            Error(
                "CURATOR_EVAL_ENDPOINTS must be a JSON list of endpoints.",
                hint='e.g. [{"name": "vllm", "base_url": "http://gpu1:8000/v1", "model": "llama"}]',
                id="training.E101",
            )
        ]
    seen: set[str] = set()
    for index, entry in enumerate(endpoints):
        where = f"CURATOR_EVAL_ENDPOINTS[{index}]"
        if not isinstance(entry, dict):
            problems.append(Error(f"{where} must be an object.", id="training.E102"))
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name or ":" in name:
            problems.append(
                Error(
                    f"{where} needs a 'name' without ':' (it is a model REF).", id="training.E103"
                )
            )
        elif name in seen:
            problems.append(Error(f"{where}: the name {name!r} is used twice.", id="training.E104"))
        else:
            seen.add(name)
        if urlparse(str(entry.get("base_url", ""))).scheme not in {"http", "https"}:
            problems.append(
                Error(f"{where} needs a 'base_url' like http://host:8000/v1.", id="training.E105")
            )
        if not entry.get("model"):
            problems.append(Error(f"{where} needs the 'model' name to send.", id="training.E106"))
        if "api_key" in entry:
            problems.append(
                Error(
                    f"{where} has an 'api_key': name the environment variable holding it in "
                    "'api_key_env' instead (keys never live in settings).",
                    id="training.E107",
                )
            )
    for name in ("CURATOR_EVAL_CONCURRENCY", "CURATOR_EVAL_MAX_ATTEMPTS"):
        if int(getattr(settings, name, 1)) < 1:
            problems.append(Error(f"{name} must be at least 1.", id="training.E108"))
    return problems
