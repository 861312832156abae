"""Derive the redacted view of a conversation from its original messages and PII findings.

``redact_messages`` is the one place redacted text comes from: the review page, the snapshot
export and the training upload all call it, so what a reviewer approves is what leaves.
``iter_text_fields`` names every analyzable string of a conversation so that detection and
redaction address the same fields with the same offsets.

Pure Python, no I/O, no Django: the input messages are never modified.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
import string
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from curation.pii.matching import ValueMatcher

OPERATORS: tuple[str, ...] = ("tag", "surrogate", "mask")

# Author and function names must match ^[a-zA-Z0-9_-]{1,64}$ in OpenAI's chat format, so
# replacements written into them are reduced to that alphabet.
_NAME_FIELD = re.compile(r"^(?:name|tool_calls\.\d+\.function\.name|function_call\.name)$")
_ARGUMENTS_FIELD = re.compile(
    r"^(?:tool_calls\.\d+\.function\.arguments|function_call\.arguments)$"
)
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_-]")


class RedactionError(ValueError):
    """A finding does not fit the conversation (unknown field, offsets outside the text)."""


class FindingLike(Protocol):
    """What redaction reads from a finding (a ``PiiFinding`` row or any object like it).

    Mappings with these keys are accepted too. ``field`` defaults to "content", ``decision``
    to "redact"; ``surrogate``, when set, is used instead of a generated fake value.
    """

    message_index: int
    field: str
    start: int
    end: int
    entity_type: str
    decision: str


def iter_text_fields(messages: Sequence[Mapping[str, Any]]) -> Iterator[tuple[int, str, str]]:
    """Yield ``(message_index, field, text)`` for every non-empty string worth analyzing.

    Fields: "content" (a string), "content.N.text" (text parts of a list content), "name",
    "tool_calls.N.function.name", "tool_calls.N.function.arguments" (the raw JSON string;
    offsets refer to it) and the legacy "function_call.name" / "function_call.arguments".
    """
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue
        for field, text in _message_fields(message):
            if text:
                yield index, field, text


def _message_fields(message: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    content = message.get("content")
    if isinstance(content, str):
        yield "content", content
    elif isinstance(content, list):
        for number, part in enumerate(content):
            if (
                isinstance(part, Mapping)
                and part.get("type") == "text"
                and isinstance(part.get("text"), str)
            ):
                yield f"content.{number}.text", part["text"]
    if isinstance(message.get("name"), str):
        yield "name", message["name"]
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list):
        for number, call in enumerate(tool_calls):
            function = call.get("function") if isinstance(call, Mapping) else None
            if not isinstance(function, Mapping):
                continue
            for key in ("name", "arguments"):
                if isinstance(function.get(key), str):
                    yield f"tool_calls.{number}.function.{key}", function[key]
    function_call = message.get("function_call")
    if isinstance(function_call, Mapping):
        for key in ("name", "arguments"):
            if isinstance(function_call.get(key), str):
                yield f"function_call.{key}", function_call[key]


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    entity_type: str
    surrogate: str | None = None


def redact_messages(
    messages: list[dict[str, Any]],
    findings: Sequence[FindingLike | Mapping[str, Any]],
    *,
    operator: str,
    seed: str | int,
) -> list[dict[str, Any]]:
    """Return a redacted deep copy of ``messages``.

    Only findings whose decision is "redact" apply; overlapping ones in the same field are
    merged first (the longest finding names the merged span). Operators:

    - ``tag``: ``<PERSON_1>``, ``<EMAIL_ADDRESS_2>``…, numbered per entity type in order of
      first appearance across the whole conversation; the same value gets the same tag.
    - ``surrogate``: a realistic fake of the same kind (Faker), the same for the same value
      throughout the conversation, and determined by ``seed`` and the value alone.
    - ``mask``: as many asterisks as the value has characters (line breaks kept).

    Tool-call arguments that were valid JSON stay valid JSON: replacements go into the decoded
    string values (or replace a whole number/literal with a string) and are re-encoded.
    """
    if operator not in OPERATORS:
        raise ValueError(f"unknown redaction operator {operator!r}; use one of {OPERATORS}")
    fields = {(index, field): text for index, field, text in iter_text_fields(messages)}
    order = {key: position for position, key in enumerate(fields)}
    spans = _spans_by_field(findings, fields)
    # A value redacted in one place is redacted wherever else it appears, in any letter case.
    values = {
        fields[key][span.start : span.end]: span.entity_type
        for key, field_spans in spans.items()
        for span in field_spans
    }
    for key, found in other_occurrences(fields, values).items():
        spans.setdefault(key, []).extend(_Span(start, end, kind) for start, end, kind in found)

    replacer = _Replacer(operator, seed, persons=person_names(values))
    edited: dict[tuple[int, str], str] = {}
    for key in sorted(spans, key=order.__getitem__):
        merged = _merge(spans[key])
        field = key[1]
        text = fields[key]
        if _ARGUMENTS_FIELD.match(field):
            edited[key] = _redact_json_text(text, merged, replacer)
        else:
            edited[key] = _apply(text, merged, replacer, name_field=bool(_NAME_FIELD.match(field)))

    result = copy.deepcopy(messages)
    for (index, field), text in edited.items():
        _set_field(result[index], field, text)
    return result


_MIN_ALNUM = 2


def other_occurrences(
    fields: Mapping[tuple[int, str], str], values: Mapping[str, str]
) -> dict[tuple[int, str], list[tuple[int, int, str]]]:
    """Every occurrence of ``values`` (value → entity type) in ``fields``, ignoring case.

    Matches stand alone (no letter or digit right before or after) and may differ in
    whitespace. In tool-call arguments the decoded JSON strings are searched, so a value
    written with escapes there is found too; offsets always point into the field's raw text.
    """
    wanted: dict[str, str] = {}
    for value, entity_type in values.items():
        words = value.split()
        if sum(ch.isalnum() for ch in value) >= _MIN_ALNUM:
            wanted.setdefault(" ".join(words).casefold(), entity_type)
    if not wanted:
        return {}
    matcher = ValueMatcher(sorted(wanted, key=len, reverse=True))
    found: dict[tuple[int, str], list[tuple[int, int, str]]] = {}

    def add(key: tuple[int, str], start: int, end: int, matched: str) -> None:
        kind = wanted.get(" ".join(matched.split()).casefold(), "PII")
        found.setdefault(key, []).append((start, end, kind))

    for key, text in fields.items():
        if _ARGUMENTS_FIELD.match(key[1]) and _is_json(text):
            for token in _json_tokens(text):
                if not token.is_string:
                    continue
                body, offsets = _decode_with_offsets(text, token.start + 1, token.end - 1)
                for start, end in matcher.spans(body):
                    add(key, offsets[start], offsets[end], body[start:end])
            continue
        for start, end in matcher.spans(text):
            add(key, start, end, text[start:end])
    return found


def _is_json(raw: str) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _value(finding: Any, name: str, default: Any = None) -> Any:
    if isinstance(finding, Mapping):
        return finding.get(name, default)
    return getattr(finding, name, default)


def _spans_by_field(
    findings: Sequence[Any], fields: Mapping[tuple[int, str], str]
) -> dict[tuple[int, str], list[_Span]]:
    spans: dict[tuple[int, str], list[_Span]] = {}
    for finding in findings:
        if (_value(finding, "decision") or "redact") != "redact":
            continue
        index = _value(finding, "message_index")
        field = _value(finding, "field") or "content"
        start, end = _value(finding, "start"), _value(finding, "end")
        key = (index, field)
        text = fields.get(key)
        if text is None:
            raise RedactionError(
                f"finding points at message {index} field {field!r}, which has no text"
            )
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise RedactionError(
                f"finding {start}-{end} is outside message {index} field {field!r} "
                f"({len(text)} characters)"
            )
        surrogate = _value(finding, "surrogate") or None
        spans.setdefault(key, []).append(
            _Span(start, end, str(_value(finding, "entity_type") or "PII"), surrogate)
        )
    return spans


def _merge(spans: list[_Span]) -> list[_Span]:
    """Merge overlapping spans; the longest one (then the earliest) names the result."""
    groups: list[list[_Span]] = []
    group_end = -1
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if groups and span.start < group_end:
            groups[-1].append(span)
            group_end = max(group_end, span.end)
        else:
            groups.append([span])
            group_end = span.end
    merged = []
    for group in groups:
        best = max(group, key=lambda s: s.end - s.start)
        surrogate = next((s.surrogate for s in group if s.surrogate), None)
        merged.append(_Span(group[0].start, max(s.end for s in group), best.entity_type, surrogate))
    return merged


def _apply(text: str, spans: list[_Span], replacer: _Replacer, *, name_field: bool) -> str:
    pieces = []
    cursor = 0
    for span in spans:
        replacement = replacer(span.entity_type, text[span.start : span.end], span.surrogate)
        if name_field:
            replacement = _NOT_NAME_CHAR.sub("_", replacement.strip("<>")) or "_"
        pieces.append(text[cursor : span.start])
        pieces.append(replacement)
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)


# -- JSON arguments ------------------------------------------------------------------------------

_JSON_SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")
_JSON_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


@dataclass(frozen=True, slots=True)
class _Token:
    start: int  # raw offsets of the whole token, quotes included for strings
    end: int
    is_string: bool


def _json_tokens(raw: str) -> list[_Token]:
    """String and scalar tokens of a JSON text already known to be valid."""
    tokens = []
    position = 0
    while position < len(raw):
        char = raw[position]
        if char == '"':
            end = position + 1
            while raw[end] != '"':
                end += 2 if raw[end] == "\\" else 1
            tokens.append(_Token(position, end + 1, True))
            position = end + 1
            continue
        match = _JSON_SCALAR.match(raw, position)
        if match is not None:
            tokens.append(_Token(position, match.end(), False))
            position = match.end()
            continue
        position += 1
    return tokens


def _decode_with_offsets(raw: str, start: int, end: int) -> tuple[str, list[int]]:
    """Decode the string body ``raw[start:end]``; ``offsets[i]`` is char i's raw position."""
    chars: list[str] = []
    offsets: list[int] = []
    position = start
    while position < end:
        offsets.append(position)
        if raw[position] != "\\":
            chars.append(raw[position])
            position += 1
            continue
        kind = raw[position + 1]
        if kind != "u":
            chars.append(_JSON_ESCAPES[kind])
            position += 2
            continue
        code = int(raw[position + 2 : position + 6], 16)
        position += 6
        if 0xD800 <= code < 0xDC00 and raw.startswith("\\u", position):
            low = int(raw[position + 2 : position + 6], 16)
            if 0xDC00 <= low < 0xE000:
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                position += 6
        chars.append(chr(code))
    offsets.append(end)
    return "".join(chars), offsets


def _redact_json_text(raw: str, spans: list[_Span], replacer: _Replacer) -> str:
    try:
        json.loads(raw)
    except ValueError:
        # Not JSON to begin with: nothing to keep valid, redact the text as it is.
        return _apply(raw, spans, replacer, name_field=False)
    pieces = []
    cursor = 0
    for token in _json_tokens(raw):
        inside = [s for s in spans if s.start < token.end and token.start < s.end]
        if not inside:
            continue
        pieces.append(raw[cursor : token.start])
        if token.is_string:
            body, offsets = _decode_with_offsets(raw, token.start + 1, token.end - 1)
            local = []
            for span in inside:
                # Widen to whole characters when a span edge falls inside an escape sequence.
                first = max(i for i, at in enumerate(offsets) if at <= max(span.start, offsets[0]))
                last = min(i for i, at in enumerate(offsets) if at >= min(span.end, offsets[-1]))
                if first < last:
                    local.append(_Span(first, last, span.entity_type, span.surrogate))
            value = _apply(body, _merge(local), replacer, name_field=False) if local else body
            pieces.append(json.dumps(value, ensure_ascii=False))
        else:
            span = max(inside, key=lambda s: s.end - s.start)
            literal = raw[token.start : token.end]
            pieces.append(
                json.dumps(replacer(span.entity_type, literal, span.surrogate), ensure_ascii=False)
            )
        cursor = token.end
    pieces.append(raw[cursor:])
    return "".join(pieces)


def _set_field(message: dict[str, Any], field: str, text: str) -> None:
    parts = field.split(".")
    target: Any = message
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[parts[-1]] = text


# -- replacements --------------------------------------------------------------------------------


def _same_case(value: str, replacement: str) -> str:
    if value.isupper() and len(value) > 1:
        return replacement.upper()
    if value.islower():
        return replacement.lower()
    return replacement


def _normalize(value: str) -> str:
    return " ".join(value.split()).casefold()


def person_names(values: Mapping[str, str]) -> dict[str, str]:
    """Each PERSON value (normalised) → the fullest name of the conversation it is part of.

    "John Doe", "John", "doe" and "JOHN DOE" are one person: the parts map to the longest
    name whose words contain them all (the first such name when two qualify).
    """
    names = sorted(
        {_normalize(v) for v, kind in values.items() if kind == "PERSON" and v.strip()},
        key=lambda name: (-len(name.split()), name),
    )
    full: dict[str, str] = {}
    for name in names:
        words = name.split()
        full[name] = next(
            (
                other
                for other in names
                if len(other.split()) > len(words) and _part_of(words, other)
            ),
            name,
        )
    return full


def _part_of(words: list[str], name: str) -> bool:
    """Whether ``words`` appear, in order and adjacent, in ``name`` ("doe" in "john doe")."""
    other = name.split()
    size = len(words)
    return any(other[i : i + size] == words for i in range(len(other) - size + 1))


class _Replacer:
    """Chooses the replacement for each (entity type, value), consistently per conversation."""

    def __init__(
        self, operator: str, seed: str | int, *, persons: Mapping[str, str] | None = None
    ) -> None:
        self.operator = operator
        self.seed = str(seed)
        self.assigned: dict[tuple[str, str], str] = {}
        self.counters: dict[str, int] = {}
        self.used: set[str] = set()
        self.persons = dict(persons or {})

    def __call__(self, entity_type: str, value: str, surrogate: str | None) -> str:
        if self.operator == "mask":
            return "".join("\n" if ch == "\n" else "*" for ch in value)
        if entity_type == "PERSON":
            full = self.persons.get(_normalize(value), _normalize(value))
            if full != _normalize(value):
                return self._person_part(value, full, surrogate)
        key = (entity_type, _normalize(value))
        replacement = self.assigned.get(key)
        if replacement is None:
            replacement = self._new(entity_type, value, surrogate)
            self.assigned[key] = replacement
            self.used.add(replacement)
        if entity_type == "PERSON" and self.operator == "surrogate":
            # One surrogate per person, written in each mention's letter case.
            return _same_case(value, replacement)
        return replacement

    def _new(self, entity_type: str, value: str, surrogate: str | None) -> str:
        if self.operator == "tag":
            number = self.counters.get(entity_type, 0) + 1
            self.counters[entity_type] = number
            return f"<{entity_type}_{number}>"
        if surrogate:
            return surrogate
        if entity_type == "PERSON":
            return self._fake(entity_type, value.title())
        return self._fake(entity_type, value)

    def _person_part(self, value: str, full: str, surrogate: str | None) -> str:
        """A part of a fuller name gets the full name's tag, or the same part of its surrogate."""
        whole = self("PERSON", full.title(), None if self.operator == "tag" else surrogate)
        if self.operator == "tag":
            return whole
        words, full_words, fake_words = value.split(), full.split(), whole.split()
        if len(fake_words) != len(full_words):
            return whole
        position = next(
            i
            for i in range(len(full_words) - len(words) + 1)
            if full_words[i : i + len(words)] == [w.casefold() for w in words]
        )
        return _same_case(value, " ".join(fake_words[position : position + len(words)]))

    def _fake(self, entity_type: str, value: str) -> str:
        for attempt in range(20):
            digest = hashlib.sha256(
                f"{self.seed}\x1f{entity_type}\x1f{_normalize(value)}\x1f{attempt}".encode()
            ).digest()
            candidate = _surrogate(entity_type, value, int.from_bytes(digest[:8], "big"))
            # Two different people must not end up with the same fake name.
            if candidate not in self.used and _normalize(candidate) != _normalize(value):
                return candidate
        return candidate


_FAKERS = threading.local()


def _faker(seed: int) -> Any:
    fake = getattr(_FAKERS, "instance", None)
    if fake is None:
        from faker import Faker

        fake = Faker("en_US")
        _FAKERS.instance = fake
    fake.seed_instance(seed)
    return fake


_NATIONALITIES = (
    "Canadian",
    "Brazilian",
    "Norwegian",
    "Kenyan",
    "Portuguese",
    "Vietnamese",
    "Chilean",
    "Irish",
    "Polish",
    "Moroccan",
    "Thai",
    "Dutch",
)


def _surrogate(entity_type: str, value: str, seed: int) -> str:
    fake = _faker(seed)
    rng = random.Random(seed)
    generators = {
        "PERSON": lambda: fake.first_name() if len(value.split()) == 1 else fake.name(),
        "EMAIL_ADDRESS": fake.ascii_safe_email,
        "PHONE_NUMBER": fake.phone_number,
        "CREDIT_CARD": fake.credit_card_number,
        "IBAN_CODE": fake.iban,
        "IP_ADDRESS": lambda: fake.ipv6() if ":" in value else fake.ipv4_private(),
        "US_SSN": fake.ssn,
        "US_PASSPORT": fake.passport_number,
        "LOCATION": fake.city,
        "STREET_ADDRESS": fake.street_address,
        "ZIP_CODE": fake.postcode,
        "AGE": lambda: str(rng.randint(18, 90)),
        "DATE_TIME": lambda: fake.date(),
        "NRP": lambda: rng.choice(_NATIONALITIES),
        "URL": lambda: f"https://example.com/{fake.uri_path()}",
        "ORGANIZATION": fake.company,
    }
    generator = generators.get(entity_type)
    if generator is None:
        return _same_shape(value, rng)
    fake_value = str(generator())
    if value.isupper():
        return fake_value.upper()
    if value.islower() and entity_type in ("PERSON", "LOCATION"):
        return fake_value.lower()
    return fake_value


def _same_shape(value: str, rng: random.Random) -> str:
    """Random digits for digits and letters for letters: ids keep their format."""
    out = []
    for char in value:
        if char.isdigit():
            out.append(rng.choice(string.digits))
        elif char.isalpha():
            letters = string.ascii_uppercase if char.isupper() else string.ascii_lowercase
            out.append(rng.choice(letters))
        else:
            out.append(char)
    return "".join(out)
