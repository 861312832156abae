"""From candidate spans to detections: evidence for names, context boosts, overlaps merged.

Pure Python (``regex`` and the evidence module); the analyzer feeds it what the recognizers
and the NER found.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import NamedTuple

import regex

from curation.pii.config import Detection
from curation.pii.evidence import (
    CODE_SAFE_ENTITIES,
    code_regions,
    has_personal_context,
    in_regions,
    looks_like_private_name,
    person_span,
)

# Presidio's context enhancer: +0.35, and at least 0.4, when a context word is near the match.
_CONTEXT_BOOST = 0.35
_CONTEXT_FLOOR = 0.4
_CONTEXT_BEFORE = 48
_CONTEXT_AFTER = 24


class Candidate(NamedTuple):
    start: int
    end: int
    entity_type: str
    score: float
    # Deny-list and custom-pattern matches name their group; then rule-based recognizers,
    # which are more specific than the statistical NER ("74" AGE inside "74 year old" DATE).
    rank: int
    # Found by the NER or the name list alone: reported only with evidence (see evidence.py).
    needs_evidence: bool = False


RANK_NER = 0
RANK_RULES = 1
# An identifier after its cue word ("order #…") names the whole span, whatever other
# recognizers read into its digits (a card, an NHS number).
RANK_CUED = 2
RANK_FORCED = 3


# Contact details in a message make the people it names private ones.
_CONTACT_ENTITIES = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS"})


def with_evidence(text: str, candidates: list[Candidate]) -> list[Candidate]:
    """Drop what is code, not a private person's name, or an address that identifies no one."""
    regions = code_regions(text)
    personal: bool | None = None
    # From an address to the end of its line: "…, Austin, TX 78701" names a city, not a person.
    address_lines = [
        (c.start, _line_end(text, c.end))
        for c in candidates
        if c.entity_type in ("STREET_ADDRESS", "ZIP_CODE")
    ]
    kept = []
    for candidate in candidates:
        if (
            regions
            and candidate.rank != RANK_FORCED
            and candidate.entity_type not in CODE_SAFE_ENTITIES
            and in_regions(candidate.start, candidate.end, regions)
        ):
            continue
        if candidate.entity_type == "IP_ADDRESS" and not _personal_ip(
            text[candidate.start : candidate.end]
        ):
            continue
        if candidate.needs_evidence:
            span = person_span(text, candidate.start, candidate.end)
            if span is None or in_regions(*span, address_lines):
                continue
            if personal is None:
                personal = has_personal_context(text) or any(
                    c.entity_type in _CONTACT_ENTITIES for c in candidates
                )
            if not looks_like_private_name(text, *span, personal=personal):
                continue
            candidate = candidate._replace(start=span[0], end=span[1])
        kept.append(candidate)
    return kept


def _line_end(text: str, position: int) -> int:
    end = text.find("\n", position)
    return len(text) if end == -1 else end


def _personal_ip(value: str) -> bool:
    """Loopback, unspecified, link-local and multicast addresses and netmasks name no one."""
    if all(len(part) == 1 for part in value.split(".")):
        # "1.2.3.1" is a section or version number far more often than a host.
        return False
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return True
    if address.is_loopback or address.is_unspecified or address.is_link_local:
        return False
    return not (address.is_multicast or value.startswith("255."))


def boost(text: str, start: int, end: int, context: regex.Pattern[str], score: float) -> float:
    window = (
        text[max(0, start - _CONTEXT_BEFORE) : start] + " \n " + text[end : end + _CONTEXT_AFTER]
    )
    if context.search(window.lower()) is None:
        return score
    return min(1.0, max(score + _CONTEXT_BOOST, _CONTEXT_FLOOR))


def resolve_overlaps(text: str, candidates: Iterable[Candidate]) -> list[Detection]:
    """Merge overlapping candidates into one detection each.

    A group of overlapping spans becomes one span covering all of them, so no character any
    detector flagged is left out. Its type comes from a deny-list or custom-pattern match if there
    is one, else from the longest span (ties: the higher score); its score is the highest.
    """
    groups: list[list[Candidate]] = []
    group_end = -1
    for candidate in sorted(candidates, key=lambda c: (c.start, -c.end)):
        if groups and candidate.start < group_end:
            groups[-1].append(candidate)
            group_end = max(group_end, candidate.end)
        else:
            groups.append([candidate])
            group_end = candidate.end
    detections: list[Detection] = []
    for group in groups:
        start = min(c.start for c in group)
        end = max(c.end for c in group)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            continue
        best = max(group, key=lambda c: (c.rank, c.end - c.start, c.score))
        score = round(max(c.score for c in group), 4)
        detections.append(Detection(start, end, best.entity_type, score, text[start:end]))
    return detections
