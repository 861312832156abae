"""Logging filters that keep the web server's and the worker's output readable: one line per
request that a visitor got wrong (403, 404: no traceback) and one line per background job."""

from __future__ import annotations

import logging

# What the RQ worker says at INFO that is worth a line: the job's outcome, and that it started
# listening. Its other INFO lines (job taken, "Job OK", result kept, registries cleaned,
# scheduler locks) repeat the same job three more times.
_RQ_KEPT = ("Successfully completed", "*** Listening on")


class ReadableLog(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            if record.name == "django.server":
                return False  # django.request already said it, with the reason
            # A denied or missing page is the visitor's problem, not the server's.
            record.exc_info = None
            record.exc_text = None
        if record.name.startswith("rq.") and record.levelno == logging.INFO:
            return str(record.msg).startswith(_RQ_KEPT)
        return True
