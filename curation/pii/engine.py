"""The PII detector's entry point: ``get_engine`` builds one engine per process and model.

Importing this module stays light (no spaCy, no Presidio): the settings and results it names
live in ``config``; the engine itself (``analyzer.PiiEngine``) is loaded by ``get_engine``, the
first time a process detects anything.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from curation.pii.config import (
    DEFAULT_MODEL,
    DENY_LIST_ENTITY,
    Detection,
    PatternTimeoutError,
    PiiConfig,
    TextContext,
)
from curation.pii.policy import DEFAULT_ENTITIES

if TYPE_CHECKING:
    from curation.pii.analyzer import PiiEngine

__all__ = [
    "DEFAULT_ENTITIES",
    "DEFAULT_MODEL",
    "DENY_LIST_ENTITY",
    "Detection",
    "PatternTimeoutError",
    "PiiConfig",
    "TextContext",
    "configured_model_name",
    "get_engine",
]

_ENGINES: dict[str, PiiEngine] = {}
_ENGINES_LOCK = threading.Lock()

# spaCy (through thinc) and Presidio import these whenever they are installed, though only
# transformer pipelines (names ending in "_trf") use them. Where the GPU extras are installed
# (the GPU worker's machine, the test environment) that would add some 6 s and hundreds of MB
# to every PII process, half of a worker's start-up.
_TRANSFORMER_PACKAGES = ("torch", "transformers")


def configured_model_name() -> str:
    """The spaCy model from Django's ``CURATOR_SPACY_MODEL`` when Django is set up, else default."""
    try:
        from django.conf import settings
    except ImportError:
        return DEFAULT_MODEL
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return DEFAULT_MODEL
    return str(getattr(settings, "CURATOR_SPACY_MODEL", DEFAULT_MODEL) or DEFAULT_MODEL)


def get_engine(model_name: str | None = None) -> PiiEngine:
    """The process-wide engine for ``model_name`` (default: the configured model)."""
    name = model_name or configured_model_name()
    engine = _ENGINES.get(name)
    if engine is None:
        with _ENGINES_LOCK:
            engine = _ENGINES.get(name)
            if engine is None:
                # The one place spaCy and Presidio load: web processes that never detect
                # anything never pay for them.
                with _without_transformers(name):
                    from curation.pii.analyzer import PiiEngine

                    engine = PiiEngine(name)
                _ENGINES[name] = engine
    return engine


@contextmanager
def _without_transformers(model_name: str) -> Iterator[None]:
    """Inside the block, importing a transformer package that is not loaded yet fails as if it
    were not installed (a None entry in sys.modules), so spaCy and Presidio skip it; later
    imports, the local trainer's, load it as usual."""
    if model_name.endswith("_trf"):
        yield
        return
    # scipy's array helpers take any "torch" entry in sys.modules for the torch module, so a
    # scipy.stats import running meanwhile in another thread (a first request loading the
    # evaluation views while the web server warms the engine up) would fail on the None
    # entry: load it before the entry exists. A process with one thread (an RQ worker's
    # start-up, a command) has no one to race, and skips the second of CPU it costs.
    if threading.active_count() > 1:
        with suppress(ImportError):
            import scipy.stats  # noqa: F401
    blocked = [name for name in _TRANSFORMER_PACKAGES if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # None in sys.modules makes the import fail, on purpose
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name) is None:
                del sys.modules[name]
