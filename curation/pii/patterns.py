"""Checks for the custom patterns admins add to a dataset's PII settings.

A pattern is refused before it is saved when it does not compile, matches the empty string
(it would redact nothing, everywhere), or takes too long on adversarial sample texts — the
mark of catastrophic backtracking (``(a+)+$``), which would stall the `pii` workers.
"""

from __future__ import annotations

import regex

#: Seconds a pattern may spend on one sample text.
SAMPLE_BUDGET_S = 0.25

_REPEAT = 2_000
SAMPLES: tuple[str, ...] = (
    "a" * _REPEAT + "!",
    "A" * _REPEAT + "!",
    "1" * _REPEAT + "x",
    " " * _REPEAT + "x",
    "ab" * (_REPEAT // 2) + "!",
    "a1-" * (_REPEAT // 3) + "!",
    "x@" * (_REPEAT // 2),
    ("Hi, my name is Maria, my ticket is TCK-123456 and my phone is +1 415 555 0134. " * 25),
)


def pattern_problem(expression: str) -> str | None:
    """Why ``expression`` cannot be a custom pattern, or None when it can."""
    if not expression:
        return "the pattern is empty"
    try:
        compiled = regex.compile(expression, regex.MULTILINE)
    except regex.error as error:
        return f"the pattern does not compile ({error})"
    if compiled.search("") is not None:
        return "the pattern matches the empty string, so it would match everywhere"
    for sample in SAMPLES:
        try:
            compiled.search(sample, timeout=SAMPLE_BUDGET_S)
        except TimeoutError:
            return (
                f"the pattern took over {SAMPLE_BUDGET_S:g}s on a {len(sample)}-character "
                "sample (catastrophic backtracking); avoid nested repeats such as (a+)+"
            )
    return None
