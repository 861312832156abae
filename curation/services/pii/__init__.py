"""The PII workflow's writes, by concern: `redaction` (the redacted view, what may leave the
system), `runs` (detection runs over `pii` workers), `findings` (reviewers' corrections)
and `retention` (purging originals)."""

from __future__ import annotations

# Every version manifest records the redaction function by this dotted path; it stays
# importable here for the manifests already written.
from curation.services.pii.redaction import redacted_messages

__all__ = ["redacted_messages"]
