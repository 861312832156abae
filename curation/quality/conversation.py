"""Quality signals for one conversation: missing roles, short or empty replies, length over
the token limit, and degenerate repetition (loops), reported as flags."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Final

from curation.flags import (
    DEGENERATE_REPETITION,
    EMPTY_ASSISTANT_REPLY,
    EMPTY_MESSAGE,
    ENDS_WITH_USER_TURN,
    NO_ASSISTANT_REPLY,
    NO_SYSTEM_MESSAGE,
    NO_USER_MESSAGE,
    OVER_TOKEN_LIMIT,
    SHORT_ASSISTANT_REPLY,
)
from curation.texts import Message, message_text

# The order `signals` reports flags in, so stored flag lists compare equal.
SIGNAL_FLAGS: Final = (
    NO_SYSTEM_MESSAGE,
    NO_USER_MESSAGE,
    NO_ASSISTANT_REPLY,
    EMPTY_ASSISTANT_REPLY,
    SHORT_ASSISTANT_REPLY,
    OVER_TOKEN_LIMIT,
    DEGENERATE_REPETITION,
    ENDS_WITH_USER_TURN,
    EMPTY_MESSAGE,
)

# "Under ~3 words": one- and two-word replies ("Sure.", "You're great!") rarely show the
# model anything worth learning; three words already make a sentence ("It's easy, really").
SHORT_REPLY_WORDS: Final = 3

# -- Degenerate repetition ------------------------------------------------------------
# Two linear-time detectors, because loops come in two shapes:
#
# 1. Byte level. zlib (LZ77) encodes text it has already seen as short back-references, so a
#    window that is mostly a loop compresses far better than any prose, code or table. We
#    compress 2 KiB windows (stride 1 KiB, so any loop of 3 KiB or more fills a whole window)
#    rather than the whole text, because a loop at the end of a long, normal answer would be
#    diluted in a whole-text ratio. Calibration on ~23,000 chunks (1k, 4k and 30k characters)
#    of real text (Node.js and Rust Markdown docs, CPython and site-package sources,
#    licences, HTML templates, JSON, text files): the highest window ratio was 12.3 (a
#    Markdown page of tables); only generated data (parser tables, 0/1 matrices) went higher.
#    Pure loops reach 40-300 ("Eat a banana!" x 2000 gives ~70 per window), so 20 sits
#    between them with room on both sides. This also catches loops that have no words at
#    all ("!!!!", emoji, unspaced CJK).
# 2. Token level. Loops of a long unit (a paragraph said again and again) compress only about
#    as well as a repetitive table in a 2 KiB window, so we also look for back-to-back copies
#    in the token sequence (words and punctuation runs), see `longest_loop`. We flag at
#    least 4 consecutive copies covering at least 60 tokens. In the same calibration the
#    longest legitimate stretch with 4+ copies covered 46 tokens (a run of ", 0"); with 3
#    copies, 68 tokens (code repeating one statement three times); with 2, 148 (a passage
#    said twice). Real loops run on until the length limit, far past both bars.
#
# Cost: zlib sees each byte twice and each token is looked up and compared a bounded number
# of times, about 5 ms for 30,000 characters of prose. The loops we do not flag: copies
# that differ by a counter ("1. Eat a banana 2. Eat a ...") are not periodic token for
# token, and telling them from reference lists ("[123]: https://…/pull/123") would need
# more than a threshold, so those are left to the reviewer.
MIN_REPETITION_CHARS: Final = 200
LOOP_WINDOW_CHARS: Final = 256 * 1024
COMPRESSION_WINDOW: Final = 2048
COMPRESSION_STRIDE: Final = 1024
LOOP_COMPRESSION_RATIO: Final = 20.0
LOOP_MIN_TOKENS: Final = 60
LOOP_MIN_COPIES: Final = 4
_LOOP_NGRAM: Final = 3

WORD = re.compile(r"\w+")
# Punctuation counts in loop detection: code lines that differ only in their symbols
# ("(r'\+', Operator)", "(r'-', Operator)") are not copies of each other.
_LOOP_TOKEN = re.compile(r"\w+|[^\w\s]+")
# Scripts written without spaces: count each character as a word, or a one-line Chinese
# answer would look like a single "word".
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def assistant_text(messages: Iterable[Message]) -> str:
    """All assistant text of a conversation, one message per paragraph (tool calls excluded)."""
    return "\n\n".join(
        text
        for message in messages
        if message.get("role") == "assistant" and (text := message_text(message))
    )


def _has_tool_call(message: Message) -> bool:
    return bool(message.get("tool_calls")) or bool(message.get("function_call"))


def _is_empty(message: Message) -> bool:
    """No text, and no image or other content part standing in for it."""
    content = message.get("content")
    if isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type", "text") not in {"text", "refusal"}
        for part in content
    ):
        return False
    return not message_text(message).strip() and not _has_tool_call(message)


def word_count(text: str) -> int:
    """Words as a reader counts them: whitespace-separated, with CJK characters one each."""
    count = 0
    for token in text.split():
        unspaced = len(_UNSPACED.findall(token))
        if unspaced:
            # The rest of a mixed token ("OK好的") still counts as one word if it has letters.
            rest = _UNSPACED.sub("", token)
            count += unspaced + (1 if WORD.search(rest) else 0)
        elif WORD.search(token):
            count += 1
    return count


def compression_ratio(data: bytes) -> float:
    """Raw size over zlib-compressed size (level 6); ``0.0`` for empty input."""
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data, 6))


def _loops_bytewise(data: bytes) -> bool:
    if len(data) <= COMPRESSION_WINDOW:
        return compression_ratio(data) >= LOOP_COMPRESSION_RATIO
    last_start = len(data) - COMPRESSION_WINDOW
    starts = list(range(0, last_start + 1, COMPRESSION_STRIDE))
    if starts[-1] != last_start:
        starts.append(last_start)
    return any(
        compression_ratio(data[start : start + COMPRESSION_WINDOW]) >= LOOP_COMPRESSION_RATIO
        for start in starts
    )


def longest_loop(tokens: Sequence[str]) -> tuple[int, float]:
    """The longest back-to-back repetition in `tokens`: (tokens it covers, number of copies).

    When a token trigram recurs `p` tokens after its last occurrence, we extend the match
    token by token while each token equals the one `p` earlier; the matched stretch plus
    the `p` tokens before it is `p`-periodic. The trigrams inside a stretch are recorded but
    not extended again, which keeps the scan linear. Stretches with fewer than two copies
    (a phrase that merely recurs later on) are ignored.
    """
    n = _LOOP_NGRAM
    size = len(tokens)
    grams = list(zip(*(tokens[offset:] for offset in range(n)), strict=False))
    last_seen: dict[tuple[str, ...], int] = {}
    best_tokens, best_copies = 0, 0.0
    index = 0
    while index < len(grams):
        start = index
        seen_at = last_seen.get(grams[start])
        last_seen[grams[start]] = start
        index += 1
        if seen_at is None:
            continue
        gap = start - seen_at
        end = start + n
        while end < size and tokens[end] == tokens[end - gap]:
            end += 1
        repeated = end - start
        covered = repeated + gap
        if repeated >= gap and covered > best_tokens:
            best_tokens, best_copies = covered, covered / gap
        while index < end - n + 1:
            last_seen[grams[index]] = index
            index += 1
    return best_tokens, best_copies


def is_degenerate_repetition(text: str) -> bool:
    """Whether `text` loops: see the calibration notes above the thresholds."""
    if len(text) < MIN_REPETITION_CHARS:
        return False
    if _loops_bytewise(text.encode("utf-8")):
        return True
    # Token lists cost ~100 bytes a token: long texts are read in overlapping windows so
    # memory stays bounded whatever the text's length (a loop of 60 tokens fits in one).
    for start in range(0, max(1, len(text) - LOOP_WINDOW_CHARS // 2), LOOP_WINDOW_CHARS // 2):
        window = text[start : start + LOOP_WINDOW_CHARS]
        covered, copies = longest_loop(_LOOP_TOKEN.findall(window.casefold()))
        if covered >= LOOP_MIN_TOKENS and copies >= LOOP_MIN_COPIES:
            return True
    return False


def signals(messages: Sequence[Message], *, token_count: int, token_limit: int) -> list[str]:
    """Quality flags of one conversation, in `SIGNAL_FLAGS` order.

    `token_count` is the conversation's training token count and `token_limit` the most the
    dataset's target model accepts. System and developer messages both count as a system
    message. Only the final assistant message can be short; an assistant message that calls
    a tool is never empty or short.
    """
    if token_limit <= 0:
        raise ValueError("token_limit must be positive")
    roles = {message.get("role") for message in messages}
    assistants = [message for message in messages if message.get("role") == "assistant"]
    found: set[str] = set()
    if not roles & {"system", "developer"}:
        found.add(NO_SYSTEM_MESSAGE)
    if "user" not in roles:
        found.add(NO_USER_MESSAGE)
    if not assistants:
        found.add(NO_ASSISTANT_REPLY)
    for message in assistants:
        text = message_text(message)
        if not text.strip() and not _has_tool_call(message):
            found.add(EMPTY_ASSISTANT_REPLY)
        elif DEGENERATE_REPETITION not in found and is_degenerate_repetition(text):
            found.add(DEGENERATE_REPETITION)
    if assistants:
        final = assistants[-1]
        final_text = message_text(final).strip()
        if final_text and not _has_tool_call(final) and word_count(final_text) < SHORT_REPLY_WORDS:
            found.add(SHORT_ASSISTANT_REPLY)
    if token_count > token_limit:
        found.add(OVER_TOKEN_LIMIT)
    turns = [message for message in messages if message.get("role") not in {"system", "developer"}]
    if turns and turns[-1].get("role") == "user" and assistants:
        found.add(ENDS_WITH_USER_TURN)
    if any(
        message.get("role") in {"user", "system", "developer"} and _is_empty(message)
        for message in messages
    ):
        found.add(EMPTY_MESSAGE)
    return [flag for flag in SIGNAL_FLAGS if flag in found]
