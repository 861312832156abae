"""The API shapes the simulator speaks besides OpenAI's, each mounted under its own prefix.

Every shape is a thin translation over the one job engine in ``state``: the same status
progression, loss curve, checkpoints and faults, shown the way that provider's API shows
them. ``install`` registers their route tables once (see ``endpoints.register_routes``).
"""

from __future__ import annotations

import threading

from training.simulator.endpoints import register_routes
from training.simulator.shapes import azure, fireworks, together

# Each shape's paths are the real host's paths under this prefix: swap the base URL only.
# https://api.together.xyz/v1/… -> /together/v1/…; https://api.fireworks.ai/… (its
# /v1/accounts/… and /inference/v1/…) -> /fireworks/…; https://{resource}.openai.azure.com
# /openai/… -> /openai/… (Azure's own path already carries its prefix);
# https://management.azure.com/subscriptions/… -> /azure-management/subscriptions/….
PREFIXES = {"together": "/together", "fireworks": "/fireworks"}
AZURE_PREFIXES = {"data": "/openai", "management": "/azure-management"}

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
