"""The quality score that orders the review queue, from the flags and token counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from curation.flags import (
    BLOCKING_FLAGS,
    NEAR_DUPLICATE,
    NO_SYSTEM_MESSAGE,
    NO_USER_MESSAGE,
    SHORT_ASSISTANT_REPLY,
)

# A heuristic for sorting the review queue, not a verdict. A raw score starts at 1.0, loses
# a penalty per warning flag (sized by how much the problem usually costs a fine-tune) and
# up to ASSISTANT_SHARE_PENALTY when assistant tokens are a small share of the conversation
# (the model only learns from those; a short answer to a long document is normal, so the
# penalty is mild), and is clamped to [0, 1]. Without blocking flags the score maps the raw
# score onto [BLOCKING_CAP, 1]; with k blocking flags it is BLOCKING_CAP * raw / 2**k, at
# most half the cap. So every blocked example sorts below every unblocked one, adding any
# flag never raises the score, and more assistant tokens never lower it.
WARNING_PENALTIES: Final[Mapping[str, float]] = {
    NO_SYSTEM_MESSAGE: 0.1,
    NO_USER_MESSAGE: 0.25,
    SHORT_ASSISTANT_REPLY: 0.2,
    NEAR_DUPLICATE: 0.3,
}
UNKNOWN_FLAG_PENALTY: Final = 0.1
BLOCKING_CAP: Final = 0.2
ASSISTANT_SHARE_PENALTY: Final = 0.2
ASSISTANT_SHARE_TARGET: Final = 0.1


def quality_score(flags: Iterable[str], *, token_count: int, assistant_tokens: int) -> float:
    """A score in [0, 1] (4 decimals) from the flags and token counts; see the notes above."""
    if token_count < 0 or assistant_tokens < 0:
        raise ValueError("token counts cannot be negative")
    unique = set(flags)
    raw = 1.0
    for flag in unique - BLOCKING_FLAGS:
        raw -= WARNING_PENALTIES.get(flag, UNKNOWN_FLAG_PENALTY)
    share = min(1.0, assistant_tokens / token_count) if token_count else 0.0
    raw -= ASSISTANT_SHARE_PENALTY * max(0.0, 1.0 - share / ASSISTANT_SHARE_TARGET)
    raw = min(1.0, max(0.0, raw))
    blocking = len(unique & BLOCKING_FLAGS)
    if blocking:
        return round(BLOCKING_CAP * raw / 2**blocking, 4)
    return round(BLOCKING_CAP + (1.0 - BLOCKING_CAP) * raw, 4)
