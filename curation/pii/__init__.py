"""PII detection (Presidio + spaCy, batched) and the one function that derives redacted text.

The names are loaded lazily so that importing ``curation.pii.redaction`` (pure Python) does not
pull in spaCy and Presidio.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_ENTITIES": "policy",
    "DENY_LIST_ENTITY": "config",
    "Detection": "config",
    "PiiConfig": "config",
    "PiiEngine": "analyzer",
    "PatternTimeoutError": "config",
    "get_engine": "engine",
    "OPERATORS": "redaction",
    "FindingLike": "redaction",
    "iter_text_fields": "redaction",
    "redact_messages": "redaction",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
