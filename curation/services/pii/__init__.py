"""The PII workflow's writes, by concern: `runs` (detection runs over `pii` workers), `findings` (reviewers' corrections)
and `retention` (purging originals)."""

from __future__ import annotations

# Every version manifest records the redaction function by this dotted path (it lives in
# `curation.selectors.redaction` now, a read); it stays importable here for those manifests.
from curation.selectors.redaction import redacted_messages

__all__ = ["redacted_messages"]
