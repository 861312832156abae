"""How ``support_dev.jsonl`` and ``support_holdout.jsonl`` were made (kept for provenance).

Run once, by hand, with the sources unpacked in a folder given as the first argument:

- ``merged.jsonl``: CuCom v0.1 e-commerce conversations (``ecommerce/ecommerce_v_0_1.jsonl.zip``)
- ``sample.jsonl``: CuCom v0.1 banking sample (Hinglish / Hindi / English)
- ``abcd_sample.json``: ABCD's three sample conversations, with the customer's true values

The labels are written by this annotator, which knows each corpus's formats (CuCom's Amazon
style order ids, Indian mobiles, UPI handles, PIN codes; ABCD's scenario values) and its list of
person names that were checked by reading every candidate. It is not the detector and shares
no code with it. Every message of a conversation is kept, so the sets measure false
redactions on the ordinary turns around the personal data too.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Person names of the CuCom sample, read one by one from the candidates after "my name is",
# "Name:", "naam", honorifics and greetings (capitalised words that were not names dropped).
NAME_WORDS = set(
    """Sharma Kumar Verma Patel Priya Singh Gupta Khan Desai Kapoor Khanna Ramesh Rajesh
    Deshmukh Banerjee Deepak Iyer Krishnan Menon Rohan Reddy Kohli Raj Anjali Mehta Arjun Rao
    Sunita Raju Suresh Rajiv Aisha Ramu Amit Ajay Ravi Rahul Anita Anika Arora Joshi Nair
    Chopra Malhotra Jain Agarwal Bose Das Mishra Pandey Tiwari Yadav Chauhan Saxena Bhatia
    Neha Pooja Sneha Vikram Vijay Sanjay Manoj Anil Sunil Kavita Meera Nisha Ritu Seema Geeta
    Alok Ashok Mohan Gopal Kiran Sachin Rakesh Mukesh Dinesh Naresh Mahesh Ganesh Sita Lakshmi
    Shah Thakur Pillai Naidu Mukherjee Chatterjee Ghosh Sinha Srivastava Dubey Shukla Tripathi
    Rina Radha Ankit Ankita Varun Karan Nikhil Akash Aditya Shreya Divya Swati Shweta
    Rohit Sameer Sandeep Pradeep Harish Girish Vinod Prakash Ramesh Kishore Rekha Usha Asha
    Doe John""".split()  # noqa: SIM905 - a word list reads better as text
)
_NAME_CUE = re.compile(
    r"(?:(?i:my name is|name is|name:|naam hai|naam|mera naam|mr\.?|mrs\.?|ms\.?|miss|dear|"
    r"this is|c/o|main)\s+)((?:[A-Z][a-z]+)(?:\s+[A-Z][a-z]+)?)"
)
_ORDER = re.compile(r"#?\b\d{3}-\d{6,7}-\d{6,7}\b")
_CUED_ID = re.compile(
    r"(?i:order|ticket|reference|ref|complaint|claim|policy|account|a/c|application|"
    r"request|case|tracking|awb|transaction|txn|utr|loan|folio|customer|serial|upi)"
    r"(?:\s+(?i:id|no\.?|number|num|#))?\s*(?i:is|was|hai|:|-)?\s*#?\s*"
    r"(?P<id>(?=[A-Z0-9\-]*\d{4})[A-Z0-9][A-Z0-9\-]{4,28}[A-Z0-9])\b"
)
# A street address without its PIN: house number, name words, a street word.
_STREET = re.compile(
    r"(?<![\w\-/])(?:[A-Za-z]-?)?\d{1,4}[A-Za-z]?,?\s+(?:[A-Z][a-z]+\s+){1,3}"
    r"(?i:street|st|road|rd|lane|avenue|salai|marg|nagar)\b(?:,\s*(?i:apt|flat)\.?\s*\w+)?"
)
# A listed name addressed with "ji", "uncle", "aunty", or after a lower-case "mr".
_ADDRESSED = re.compile(
    r"(?i)\b(?:(?P<name>[a-z]+)\s+(?:ji|uncle|aunty|bhai|sir|madam)\b|"
    r"(?:mr|mrs|ms)\.?\s+(?P<name2>[a-z]+))"
)
# Two or more listed name words in a row: a full name, with or without a cue before it.
_FULL_NAME = re.compile(r"\b[A-Za-z][a-z]+(?:\s+[A-Za-z][a-z]+)+\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_UPI = re.compile(
    r"(?<![\w.])[\w.\-]+@(?:ok\w+|ybl|paytm|upi|axl|ibl|apl|icici|sbi|hdfcbank)\b(?!\.\w)"
)
_MOBILE = re.compile(r"(?<![\w\-#/])(?:\+91[ \-]?|0)?[6-9]\d{4}[ \-]?\d{5}(?![\w\-])")
_PHONE_CUE = re.compile(r"(?i)phone|mobile|number|contact|call|whatsapp|no\.|regd|registered")
_ORDER_CUE = re.compile(r"(?i)order|ticket|reference|ref|awb|tracking|id\b|account")
_CARD = re.compile(r"(?<![\w\-])\d{4}[ \-]?\d{4}[ \-]?\d{4}[ \-]?\d{4}(?![\w\-])")
_PIN = re.compile(r"(?<![\w\-/#.])[1-9]\d{2}\s?\d{3}(?![\w\-]|[.,]\d)")
# Where a street address opens: a flat, house or plot word, or the first number before a comma.
_HOUSE = re.compile(
    r"(?i)\b(?:flat|house|h\.?\s?no|plot|door|c/o|shop|room|apartment|apt|block)\b|"
    r"(?:(?<=\s)|^)#?(?:[A-Za-z]-?)?\d[\w/\-]*(?=,|\s+\w)"
)
_ADDRESS_LEAD = re.compile(
    r"(?i)^(?:.*?\b(?:address(?:\s+is)?\s*:?|its|it's|it\u2019s|it is|sure,?\s*its:?|"
    r"deliver(?:ed)?\s+to|ship\s+to|same address as before\.?)\s*:?\s*)"
)


def _add(spans: list[dict], text: str, start: int, end: int, kind: str) -> None:
    if any(s["start"] < end and start < s["end"] for s in spans):
        return
    spans.append({"entity_type": kind, "start": start, "end": end, "value": text[start:end]})


def label_cucom(turns: list[dict]) -> list[dict]:
    messages = []
    known: dict[str, str] = {}
    previous = ""
    for turn in turns:
        text = turn["content"]
        spans: list[dict] = []
        for match in _UPI.finditer(text):
            _add(spans, text, *match.span(), "UPI_ID")
        for match in _EMAIL.finditer(text):
            _add(spans, text, *match.span(), "EMAIL_ADDRESS")
        for match in _ORDER.finditer(text):
            start = match.start() + (1 if match.group().startswith("#") else 0)
            _add(spans, text, start, match.end(), "ACCOUNT_ID")
        for match in _CUED_ID.finditer(text):
            _add(spans, text, *match.span("id"), "ACCOUNT_ID")
        for match in _CARD.finditer(text):
            before = text[max(0, match.start() - 40) : match.start()].lower()
            if "card" in before:
                _add(spans, text, *match.span(), "CREDIT_CARD")
        for match in _MOBILE.finditer(text):
            before = text[max(0, match.start() - 30) : match.start()]
            if _ORDER_CUE.search(before) and not _PHONE_CUE.search(before):
                _add(spans, text, *match.span(), "ACCOUNT_ID")
            else:
                _add(spans, text, *match.span(), "PHONE_NUMBER")
        asked_address = "address" in previous.lower() or "address" in text.lower()
        if turn["role"].lower() == "user":
            for match in _PIN.finditer(text):
                if re.search(
                    r"(?i)otp|verification code|pin is",
                    text[max(0, match.start() - 20) : match.start()],
                ):
                    continue
                lead = _ADDRESS_LEAD.match(text, 0, match.start())
                start = lead.end() if lead else 0
                house = _HOUSE.search(text, start, match.start())
                start = house.start() if house else start
                segment = text[start : match.start()].rstrip(" ,-")
                parts = [p for p in re.split(r",\s*", segment) if p.strip()]
                if len(parts) >= 2 and any(ch.isdigit() for ch in segment):
                    street = ", ".join(parts[:-1])
                    _add(spans, text, start, start + len(street), "STREET_ADDRESS")
                elif not asked_address and not re.search(r"(?i)pin", text[: match.start()]):
                    continue
                _add(spans, text, *match.span(), "ZIP_CODE")
        for match in _STREET.finditer(text):
            _add(spans, text, *match.span(), "STREET_ADDRESS")
        for match in _FULL_NAME.finditer(text):
            if all(w.capitalize() in NAME_WORDS for w in match.group().split()):
                _add(spans, text, *match.span(), "PERSON")
        for match in _NAME_CUE.finditer(text):
            words = match.group(1).split()
            while words and words[-1] not in NAME_WORDS:
                words.pop()
            if words and all(w in NAME_WORDS for w in words):
                start = match.start(1)
                _add(spans, text, start, start + len(" ".join(words)), "PERSON")
        for match in _ADDRESSED.finditer(text):
            group = "name" if match.group("name") else "name2"
            if match.group(group).capitalize() in NAME_WORDS:
                _add(spans, text, *match.span(group), "PERSON")
        for span in spans:
            if span["entity_type"] in ("PERSON", "ACCOUNT_ID", "STREET_ADDRESS"):
                known[span["value"]] = span["entity_type"]
            if span["entity_type"] == "PERSON":
                for word in span["value"].split():
                    known[word] = "PERSON"
        for value, kind in known.items():
            flags = re.IGNORECASE if kind == "PERSON" else 0
            for match in re.finditer(rf"(?<![\w]){re.escape(value)}(?![\w])", text, flags):
                _add(spans, text, *match.span(), kind)
        messages.append(
            {
                "role": turn["role"],
                "content": text,
                "spans": sorted(spans, key=lambda s: s["start"]),
            }
        )
        previous = text
    return messages


def label_abcd(conversation: dict) -> list[dict]:
    personal = conversation["scenario"]["personal"]
    order = conversation["scenario"]["order"]
    fields = [
        (personal, "customer_name", "PERSON"),
        (personal, "email", "EMAIL_ADDRESS"),
        (personal, "phone", "PHONE_NUMBER"),
        (personal, "account_id", "ACCOUNT_ID"),
        (order, "order_id", "ACCOUNT_ID"),
        (order, "street_address", "STREET_ADDRESS"),
        (order, "zip_code", "ZIP_CODE"),
    ]
    values = [(source[key], kind) for source, key, kind in fields if source.get(key)]
    name_parts = [(part, "PERSON") for part in personal["customer_name"].split()]
    messages = []
    for speaker, text in conversation["original"]:
        if speaker == "action":
            continue
        spans: list[dict] = []
        for value, kind in [*values, (personal.get("username", ""), "USERNAME"), *name_parts]:
            if not value:
                continue
            for match in re.finditer(rf"(?i)(?<![\w@]){re.escape(value)}(?![\w])", text):
                _add(spans, text, *match.span(), kind)
        role = "user" if speaker == "customer" else "assistant"
        messages.append(
            {"role": role, "content": text, "spans": sorted(spans, key=lambda s: s["start"])}
        )
    return messages


_RARE = re.compile(
    r"(?i)(?:upi|my name is|name:|naam|address is|pin ?code|\bmr\.? [A-Z]|card number)"
)


def holdout(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 2 == 1  # noqa: S324 - a split, not security


def main(folder: Path) -> None:
    conversations = []
    ecommerce = [json.loads(line) for line in (folder / "merged.jsonl").open(encoding="utf-8")]
    for row in ecommerce[::25]:
        conversations.append(
            {
                "source": "cucom-ecommerce",
                "id": row["id"],
                "region": "IN",
                "languages": ["en"],
                "messages": label_cucom(row["turns"]),
            }
        )
    # Every 25th conversation has few addresses, UPI ids and names: add the conversations of
    # the rest that hold one, every 4th of them.
    rare = [
        row
        for index, row in enumerate(ecommerce)
        if index % 25 and _RARE.search(" ".join(turn["content"] for turn in row["turns"]))
    ]
    for row in rare[::4]:
        conversations.append(
            {
                "source": "cucom-ecommerce",
                "id": row["id"],
                "region": "IN",
                "languages": ["en"],
                "messages": label_cucom(row["turns"]),
            }
        )
    for line in (folder / "sample.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        conversations.append(
            {
                "source": "cucom-banking",
                "id": row["id"],
                "region": "IN",
                "languages": ["en", "hi"],
                "messages": label_cucom(row["turns"]),
            }
        )
    for row in json.loads((folder / "abcd_sample.json").read_text(encoding="utf-8")):
        conversations.append(
            {
                "source": "abcd",
                "id": str(row["convo_id"]),
                "region": "US",
                "languages": ["en"],
                "messages": label_abcd(row),
            }
        )
    parts: dict[str, list[dict]] = {"dev": [], "holdout": []}
    for conversation in conversations:
        part = "holdout" if holdout(f"{conversation['source']}:{conversation['id']}") else "dev"
        parts[part].append(conversation)
    for part, rows in parts.items():
        with (HERE / f"support_{part}.jsonl").open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
