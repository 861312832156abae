"""Support chats for benchmarks: ABCD's sample dialogues, re-personalised and scaled.

Source: the three sample dialogues of ASAPP's Action-Based Conversations Dataset (Chen et al.,
NAACL 2021), https://github.com/asappresearch/abcd, ``data/abcd_sample.json`` (commit 6b8700c),
MIT licence; kept in ``data/abcd_sample.json`` (``convo_id``, ``scenario``, ``original`` only).
Human-to-human e-commerce support chats: greetings, identity checks (name, username, e-mail,
order id, phone), policy answers, closings.

Scaling keeps the repetition real support traffic has and changes what would not repeat:
each generated conversation follows one of the dialogues turn by turn, with a new customer
(name, username, e-mail, phone, order id, address) written wherever the original customer's
values appeared, in the same letter case. So agent templates and customer small talk recur
verbatim, and every message that carries a personal value differs from its siblings by it.
"System actions" (the agent tool's log lines) are left out; each conversation opens with the
same system prompt, as fine-tuning data usually does. The third dialogue (a promo-code
question) names no customer value, so it occurs once; the other two carry the scale.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parent / "data" / "abcd_sample.json"
SYSTEM_PROMPT = (
    "You are a customer support agent of an online clothing store. Verify the customer's "
    "identity before changing an order, and follow the store's policies."
)
_ROLES = {"agent": "assistant", "customer": "user"}

_FIRST = [
    "Maria",
    "Joseph",
    "Sanya",
    "Alessandro",
    "Crystal",
    "Joyce",
    "David",
    "Chloe",
    "Albert",
    "Rodriguez",
    "Ines",
    "Kenji",
    "Amara",
    "Tomasz",
    "Priya",
    "Lucas",
    "Fatima",
    "Oliver",
    "Mei",
    "Diego",
    "Hannah",
    "Kwame",
    "Sofia",
    "Mateo",
    "Aisha",
    "Noah",
    "Elena",
    "Ravi",
    "Grace",
    "Yusuf",
    "Ingrid",
    "Omar",
    "Leila",
    "Pablo",
    "Nadia",
    "Samuel",
    "Yuki",
    "Hugo",
    "Zara",
    "Felix",
]
_LAST = [
    "Minh",
    "Phoenix",
    "Wu",
    "Gonzalez",
    "Banter",
    "Afzal",
    "Farmer",
    "Lopez",
    "Tanaka",
    "Kowalski",
    "Okafor",
    "Schmidt",
    "Haddad",
    "Novak",
    "Silva",
    "Brennan",
    "Rossi",
    "Nakamura",
    "Mensah",
    "Lindqvist",
    "Duarte",
    "Petrov",
    "Moreau",
    "Chen",
    "Patel",
    "Okoye",
    "Fischer",
    "Ibrahim",
    "Larsen",
    "Vargas",
    "Horvat",
    "Costa",
    "Murphy",
    "Ahmed",
    "Jansen",
]
_STREETS = [
    "lexington ave",
    "1st ave",
    "lincoln ave",
    "main st",
    "elm st",
    "brushy rd",
    "kingston st",
    "circle dr",
]
_CITIES = [
    "san mateo",
    "la fayette",
    "raleigh",
    "newark",
    "monterey",
    "baltimore",
    "jacksonville",
    "austin",
]
_STATES = ["ny", "tx", "mi", "ca", "wa", "fl", "ma", "il"]


def _dialogues() -> list[dict[str, Any]]:
    return json.loads(SAMPLE.read_text())


def _values(scenario: dict[str, Any]) -> dict[str, str]:
    """The dialogue's own customer values, by slot."""
    personal, order = scenario["personal"], scenario["order"]
    first, _, last = personal["customer_name"].partition(" ")
    values = {
        "name": personal["customer_name"],
        "first": first,
        "last": last,
        "phone": personal.get("phone", ""),
        "order_id": order.get("order_id", ""),
        "street": order.get("street_address", ""),
        "city": order.get("city", ""),
        "zip": order.get("zip_code", ""),
    }
    if personal.get("email"):
        values["email"] = personal["email"]
    if personal.get("username"):
        values["username"] = personal["username"]
    return {slot: value for slot, value in values.items() if value}


def _template(text: str, values: dict[str, str]) -> str:
    """``text`` with each customer value replaced by ``{slot|case}``."""
    ordered = sorted(values.items(), key=lambda item: len(item[1]), reverse=True)
    pattern = re.compile(
        "|".join(f"(?P<{slot}>{re.escape(value)})" for slot, value in ordered), re.IGNORECASE
    )

    def placeholder(match: re.Match[str]) -> str:
        slot = match.lastgroup or ""
        found = match.group(0)
        case = (
            "upper"
            if found.isupper() and len(found) > 1
            else "title"
            if found[0].isupper()
            else "lower"
        )
        return "\x00" + slot + "|" + case + "\x01"

    return pattern.sub(placeholder, text.replace("\x00", "").replace("\x01", ""))


def _fill(template: str, customer: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        slot, case = match.group(1), match.group(2)
        text = customer[slot]
        if case == "title":
            return " ".join(word[:1].upper() + word[1:] for word in text.split(" "))
        return text.upper() if case == "upper" else text.lower()

    return re.sub("\x00(\\w+)\\|(\\w+)\x01", value, template)


def _customer(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(_FIRST).lower(), rng.choice(_LAST).lower()
    username = f"{first[0]}{last}{rng.randint(100, 999)}"
    return {
        "name": f"{first} {last}",
        "first": first,
        "last": last,
        "username": username,
        "email": f"{username}@email.com",
        "phone": f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
        "order_id": str(rng.randint(10**9, 10**10 - 1)),
        "street": f"{rng.randint(100, 9999)} {rng.choice(_STREETS)}",
        "city": rng.choice(_CITIES),
        "zip": f"{rng.randint(10000, 99999)}",
        "state": rng.choice(_STATES),
    }


def conversations(messages: int, *, seed: int = 30) -> Iterator[dict[str, Any]]:
    """OpenAI-format conversations, about ``messages`` messages in all (whole conversations)."""
    rng = random.Random(seed)
    templates = []
    for dialogue in _dialogues():
        values = _values(dialogue["scenario"])
        turns = [
            (_ROLES[speaker], _template(text, values))
            for speaker, text in dialogue["original"]
            if speaker in _ROLES
        ]
        templates.append(turns)
    written = 0
    seen: set[str] = set()
    while written < messages:
        turns = rng.choice(templates)
        customer = _customer(rng)
        chat = [{"role": "system", "content": SYSTEM_PROMPT}]
        chat.extend({"role": role, "content": _fill(text, customer)} for role, text in turns)
        # An import keeps one copy of identical conversations (a dialogue without personal
        # values), so the file holds each once and every message is imported.
        digest = json.dumps(chat)
        if digest in seen:
            continue
        seen.add(digest)
        written += len(chat)
        yield {"messages": chat}


def write_jsonl(path: Path, messages: int, *, seed: int = 30) -> tuple[int, int]:
    """Write the conversations to ``path``; returns (conversations, messages)."""
    count = total = 0
    with path.open("w") as out:
        for chat in conversations(messages, seed=seed):
            out.write(json.dumps(chat) + "\n")
            count += 1
            total += len(chat["messages"])
    return count, total
