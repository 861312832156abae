"""Detection over a whole conversation: the per-text pass, then the conversation pass.

Two steps, kept apart so that the per-text step can be cached by (settings, text, context):

1. Per text: ``PiiEngine.iter_analyze(texts, config, contexts=...)``. Everything it reads beyond
   the text is in the text's ``TextContext`` (the dataset's region and languages, and what the
   preceding agent turn asked for), a small hashable value built here by ``message_contexts``.
2. Per conversation: ``resolve_conversation`` adds what only the whole conversation shows: the
   other mentions of every detected value (a name's parts in any case, so one person is one
   person), and a username that is the local part of an e-mail address in the conversation.

Pure Python over the engine's results; the engine itself is passed in.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import regex

from curation.pii.config import Detection, PiiConfig, TextContext
from curation.pii.evidence import lexicon
from curation.pii.redaction import other_occurrences

if TYPE_CHECKING:
    from curation.pii.analyzer import PiiEngine

K = TypeVar("K", bound=Hashable)

# Roles of the customer and of the agent, in the formats Curator imports.
_AGENT_ROLES = frozenset({"assistant", "agent", "gpt", "bot", "model", "system_agent"})
_USER_ROLES = frozenset({"user", "human", "customer", "client"})


def message_contexts(
    messages: Sequence[tuple[str, str]], *, region: str = "", languages: Sequence[str] = ()
) -> list[TextContext]:
    """One context per (role, text) message: the dataset's settings and, for a user turn right
    after an agent turn, what that agent turn asked for."""
    base = TextContext(region=region.upper(), languages=tuple(languages))
    contexts = []
    previous_role, previous_text = "", ""
    for role, text in messages:
        if role.casefold() in _USER_ROLES and previous_role.casefold() in _AGENT_ROLES:
            contexts.append(base.asking(asked_for(previous_text)))
        else:
            contexts.append(base)
        if role.casefold() in _AGENT_ROLES and previous_role.casefold() in _AGENT_ROLES:
            # An agent's question may span several short messages ("… the order ID and
            # email" then "please"): the customer answers all of them.
            previous_text = f"{previous_text}\n{text}"
        else:
            previous_text = text
        previous_role = role
    return contexts


def asked_for(question: str) -> frozenset[str]:
    """What an agent turn asks the customer for (entity types), from its last sentences."""
    tail = question[-_QUESTION_TAIL:]
    if not _REQUEST.search(tail):
        return frozenset()
    return frozenset(kind for kind, pattern in _ASKS if pattern.search(tail))


# An agent asks in its last sentences ("Sorry to hear that. May I have your order ID?").
_QUESTION_TAIL = 240
_REQUEST = regex.compile(
    r"(?i)\?|\b(?:please|kindly|could|can|may|would|provide|share|confirm|tell|give|enter|"
    r"verify|need|what(?:'s|[ \t]is))\b"
)
_ASKS = (
    (
        "PERSON",
        regex.compile(
            r"(?i)\byour[ \t]+(?:full[ \t]+|first[ \t]+|last[ \t]+)?name\b|\bname[ \t]+(?:on|of)[ \t]+"
            r"(?:the[ \t]+|your[ \t]+)?(?:account|order|card|booking|policy)\b|\bwho[ \t]+(?:am[ \t]+i|i'?m)[ \t]+(?:speaking|chatting|talking)\b"
        ),
    ),
    (
        "ACCOUNT_ID",
        regex.compile(
            r"(?i)\b(?:order|account|policy|ticket|reference|tracking|booking|customer|member(?:ship)?|"
            r"claim|complaint|application|awb|transaction|loan|user)[ \t]*(?:id|number|no\.?|#|"
            r"reference|name)\b|\busername\b"
        ),
    ),
    (
        "PHONE_NUMBER",
        regex.compile(
            r"(?i)\b(?:phone|mobile|contact|cell|whatsapp|telephone)(?:[ \t]+(?:number|no\.?))?\b"
        ),
    ),
    (
        "STREET_ADDRESS",
        regex.compile(
            r"(?i)\b(?:shipping|delivery|billing|home|full|postal|your|the|pickup|correct)?[ \t]*"
            r"(?<!e-?mail[ \t]*)(?<!ip[ \t]*)address\b(?![ \t]*(?:book|bar))"
        ),
    ),
)


def resolve_conversation(
    fields: Mapping[K, str], found: Mapping[K, list[Detection]]
) -> dict[K, list[Detection]]:
    """Detections each field gains from the rest of the conversation (not those it has).

    - A username that is the local part of an e-mail address found in the conversation
      ("cminh730" beside "cminh730@email.com") is the same person's: ACCOUNT_ID.
    - Every part of a person's full name, in any letter case ("John Doe" → "john", "Doe"),
      is that person wherever it stands alone.

    Whole values found elsewhere are added by the redaction's ``other_occurrences``.
    """
    wanted: dict[str, str] = {}
    for detections in found.values():
        for detection in detections:
            if detection.entity_type == "EMAIL_ADDRESS":
                local = detection.text.split("@", 1)[0]
                if _USERNAME_LIKE.fullmatch(local) and local.casefold() not in _ROLE_ACCOUNTS:
                    wanted.setdefault(local.casefold(), "ACCOUNT_ID")
            elif detection.entity_type == "PERSON":
                words = detection.text.split()
                if len(words) > 1:
                    for word in words:
                        part = word.strip(".,'\u2019")
                        if _name_part(part):
                            wanted.setdefault(part.casefold(), "PERSON")
    if not wanted:
        return {}
    pattern = regex.compile(
        r"(?<![\p{L}\d@._\-])(?:"
        + "|".join(regex.escape(value) for value in sorted(wanted, key=len, reverse=True))
        + r")(?![\p{L}\d@_\-]|\.[\p{L}\d])",
        regex.IGNORECASE,
    )
    extra: dict[K, list[Detection]] = {}
    for key, text in fields.items():
        have = found.get(key, [])
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(d.start < end and start < d.end for d in have):
                continue
            kind = wanted[match.group().casefold()]
            extra.setdefault(key, []).append(Detection(start, end, kind, 0.9, match.group()))
    return extra


def _name_part(word: str) -> bool:
    """Whether one word of a full name names the person on its own: not a particle, and not
    an everyday word ("Apollo Hospital" does not make every "hospital" a person)."""
    folded = word.casefold()
    if len(folded) < 3 or folded in _NAME_PARTICLES:
        return False
    lex = lexicon()
    return lex.zipf(folded) < _PART_COMMON_ZIPF or folded in lex.first or folded in lex.last


_PART_COMMON_ZIPF = 4.0

# A username has a letter and is not a role mailbox ("support@…" names no one).
_USERNAME_LIKE = regex.compile(r"(?=.*\p{L})[\p{L}\d._\-]{3,64}")
_ROLE_ACCOUNTS = frozenset(
    """info support help contact admin sales noreply no-reply feedback service care customercare
    customer.care billing team hello mail office enquiries enquiry orders returns""".split()  # noqa: SIM905
)
_NAME_PARTICLES = frozenset("van von der den del della dos das bin ibn mr mrs ms dr".split())  # noqa: SIM905


def analyze_conversation(
    engine: PiiEngine,
    messages: Sequence[tuple[str, str]],
    config: PiiConfig,
    *,
    region: str = "",
    languages: Sequence[str] = (),
) -> list[list[Detection]]:
    """Detections per message of one conversation of (role, text) messages, both passes."""
    texts = [text for _, text in messages]
    contexts = message_contexts(messages, region=region, languages=languages)
    per_text = list(engine.iter_analyze(texts, config, contexts=contexts))
    fields = dict(enumerate(texts))
    found = {index: list(detections) for index, detections in enumerate(per_text)}
    for index, extra in resolve_conversation(fields, found).items():
        found[index].extend(extra)
    values = {d.text: d.entity_type for detections in found.values() for d in detections}
    for (index, _field), spans in other_occurrences(
        {(i, "content"): t for i, t in fields.items()}, values
    ).items():
        for start, end, kind in spans:
            overlapping = [d for d in found[index] if d.start < end and start < d.end]
            # A fragment inside the whole value gives way to it (as in the detection job).
            if any(
                d.start < start or d.end > end or (d.start, d.end) == (start, end)
                for d in overlapping
            ):
                continue
            found[index] = [d for d in found[index] if d not in overlapping]
            found[index].append(Detection(start, end, kind, 1.0, texts[index][start:end]))
    return [sorted(found[index], key=lambda d: d.start) for index in range(len(texts))]
