"""gunicorn's configuration for `make serve` (`gunicorn -c python:curation.gunicorn`).

gunicorn itself turns `X-Forwarded-Proto: https` from loopback into an https request; that
is only right behind a TLS-terminating proxy, so the forwarded headers count only when
CURATOR_BEHIND_PROXY=true, as in Django's settings.
"""

from __future__ import annotations

import multiprocessing

from curation.env import env_bool, env_int, env_list, env_str

bind = env_str("CURATOR_BIND", "127.0.0.1:8000")
workers = env_int("CURATOR_WEB_WORKERS", min(4, 2 * multiprocessing.cpu_count() + 1))
threads = env_int("CURATOR_WEB_THREADS", 1)
timeout = env_int("CURATOR_WEB_TIMEOUT", 120)
accesslog = "-"
if env_bool("CURATOR_BEHIND_PROXY", False):
    forwarded_allow_ips = ",".join(env_list("CURATOR_PROXY_IPS", ["127.0.0.1", "::1"]))
else:
    forwarded_allow_ips = ""
    secure_scheme_headers: dict[str, str] = {}
