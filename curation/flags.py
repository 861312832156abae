"""Quality flag names: stored on conversations, read by pages, imports and the quality job.

Pure constants with no imports, so light modules can name a flag without loading the
quality code (numpy, datasketch).
"""

from typing import Final

NO_SYSTEM_MESSAGE: Final = "no_system_message"
NO_USER_MESSAGE: Final = "no_user_message"
NO_ASSISTANT_REPLY: Final = "no_assistant_reply"
EMPTY_ASSISTANT_REPLY: Final = "empty_assistant_reply"
SHORT_ASSISTANT_REPLY: Final = "short_assistant_reply"
OVER_TOKEN_LIMIT: Final = "over_token_limit"  # noqa: S105 (a flag name, not a secret)
DEGENERATE_REPETITION: Final = "degenerate_repetition"
# The last message a person wrote got no reply: trained on, it teaches nothing; as an
# evaluation example its reference is an earlier reply.
ENDS_WITH_USER_TURN: Final = "ends_with_user_turn"
# A user or system message with no text (and no tool call or content part to stand for it).
EMPTY_MESSAGE: Final = "empty_message"
# Set by import (exact content hash) and by near-duplicate clustering, not by `signals`.
DUPLICATE: Final = "duplicate"
NEAR_DUPLICATE: Final = "near_duplicate"

# Flags that make an example unfit to train on as it stands: it would be rejected by the
# provider, teach the model nothing, or teach it to loop. The rest are warnings a reviewer
# may accept.
BLOCKING_FLAGS: Final = frozenset(
    {OVER_TOKEN_LIMIT, NO_ASSISTANT_REPLY, EMPTY_ASSISTANT_REPLY, DEGENERATE_REPETITION, DUPLICATE}
)
