"""Support chats for benchmarks, from public support dialogues.

The default corpus (``cucom``): CuCom v0.1's e-commerce customer-support conversations
(vakyansh/cucom, https://github.com/vakyansh/cucom, ``ecommerce/ecommerce_v_0_1.jsonl.zip`` at
commit 60b9a7f, Apache-2.0), less the 490 conversations taken into the PII labelled sets
(``tests/data/pii_support``): 5,510 conversations, 65,828 messages, kept unchanged in
``data/cucom_ecommerce_support.jsonl.xz``. Each conversation gets the same system prompt, as
fine-tuning data usually has one; that is the only repetition added.

Scaling keeps the corpus's own repetition: conversations are written in the corpus's order,
each once, until ``messages`` is reached; past the corpus's 71,338 messages (system prompts
included) it is replayed from the start with every run of digits re-drawn (same length,
seeded), so order ids, phone numbers and amounts are new while digit-free messages recur as a
returning customer's small talk would. ``replayed`` on each conversation says which pass it
came from, so benchmarks can give the reuse of the corpus as published apart.

``abcd``: the three sample dialogues of ASAPP's ABCD (Chen et al., NAACL 2021,
https://github.com/asappresearch/abcd, ``data/abcd_sample.json``, commit 6b8700c, MIT),
re-personalised and scaled (each generated conversation follows one dialogue turn by turn
with a new customer written wherever the original customer's values appeared). With three
source dialogues it repeats far more than real traffic (83 % reuse at 100k); kept to compare
with the figures measured on it before.
"""

from __future__ import annotations

import json
import lzma
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
SAMPLE = DATA / "abcd_sample.json"
CUCOM = DATA / "cucom_ecommerce_support.jsonl.xz"
CORPORA = ("cucom", "abcd")
SYSTEM_PROMPT = (
    "You are a customer support agent of an online clothing store. Verify the customer's "
    "identity before changing an order, and follow the store's policies."
)
CUCOM_SYSTEM_PROMPT = (
    "You are a customer support agent of an online marketplace. Verify the order before "
    "offering a refund or replacement, and follow the marketplace's policies."
)
_ROLES = {"agent": "assistant", "customer": "user"}
_CUCOM_ROLES = {"agent": "assistant", "user": "user"}
_DIGITS = re.compile(r"\d+")

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


def abcd_conversations(messages: int, *, seed: int = 30) -> Iterator[dict[str, Any]]:
    """OpenAI-format conversations from ABCD's samples, about ``messages`` messages in all."""
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


def _cucom() -> list[list[tuple[str, str]]]:
    with lzma.open(CUCOM, "rt", encoding="utf-8") as source:
        return [
            [(_CUCOM_ROLES[turn["role"].lower()], turn["content"]) for turn in line["turns"]]
            for line in map(json.loads, source)
        ]


def cucom_conversations(messages: int, *, seed: int = 30) -> Iterator[dict[str, Any]]:
    """OpenAI-format conversations from CuCom's e-commerce set, about ``messages`` messages in
    all (whole conversations), replayed with new digits past the corpus's end."""
    rng = random.Random(seed)
    corpus = _cucom()
    written = 0
    replay = 0
    while written < messages:
        for turns in corpus:
            if written >= messages:
                return
            chat = [{"role": "system", "content": CUCOM_SYSTEM_PROMPT}]
            for role, text in turns:
                if replay:
                    text = _DIGITS.sub(
                        lambda match: "".join(rng.choice("0123456789") for _ in match.group(0)),
                        text,
                    )
                chat.append({"role": role, "content": text})
            written += len(chat)
            yield {"messages": chat, "replayed": replay}
        replay += 1


def conversations(
    messages: int, *, corpus: str = "cucom", seed: int = 30
) -> Iterator[dict[str, Any]]:
    """OpenAI-format support conversations from ``corpus`` (see the module's docstring)."""
    if corpus == "abcd":
        return abcd_conversations(messages, seed=seed)
    return cucom_conversations(messages, seed=seed)


def write_jsonl(
    path: Path, messages: int, *, corpus: str = "cucom", seed: int = 30
) -> tuple[int, int]:
    """Write the conversations to ``path`` (messages only); returns (conversations, messages)."""
    count = total = 0
    with path.open("w") as out:
        for chat in conversations(messages, corpus=corpus, seed=seed):
            out.write(json.dumps({"messages": chat["messages"]}) + "\n")
            count += 1
            total += len(chat["messages"])
    return count, total
