"""The API shapes the simulator speaks besides OpenAI's, each mounted under its own prefix.

Every shape is a thin translation over the one job engine in ``state``: the same status
progression, loss curve, checkpoints and faults, shown the way that provider's API shows
them. ``install`` registers their route tables once (see ``endpoints.register_routes``).
"""

from __future__ import annotations

import threading

from training.simulator.endpoints import register_routes
from training.simulator.shapes import azure, fireworks, together
from training.simulator_paths import AZURE_PREFIXES, PREFIXES

_installed = False
_lock = threading.Lock()


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        register_routes("together", PREFIXES["together"], together.ROUTES)
        register_routes("fireworks", PREFIXES["fireworks"], fireworks.ROUTES, fireworks.BODY_LIMITS)
        register_routes("azure", AZURE_PREFIXES["data"], azure.DATA_PLANE)
        register_routes("azure", AZURE_PREFIXES["management"], azure.CONTROL_PLANE)
        _installed = True


__all__ = ["AZURE_PREFIXES", "PREFIXES", "install"]
