"""Writes the demo dataset, ``curation/demo/support_chats.jsonl``, from the templates below.

Run ``.venv/bin/python curation/demo/generate.py`` after changing a template; the output is
the same on every run (a fixed seed, and Faker pinned in pyproject). Each conversation is a
support topic asked in one of several phrasings, with made-up personal data to redact, the
reply the support team gives to that topic, and sometimes a follow-up turn. Because the
topics recur with other people, numbers and wordings, a validation split holds prompts like
its training split's: a fine-tune that learned the training replies can beat its base model
on them, and one that did not learn cannot.

A few conversations are kept imperfect on purpose, so the demo shows what Curator catches:
one-word replies, conversations without a system prompt or starting with the assistant, and
exact repeats of an earlier line.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faker import Faker

OUTPUT = Path(__file__).resolve().parent / "support_chats.jsonl"
CONVERSATIONS = 330
SEED = 20261207
SYSTEM = (
    "You are Nimbus Support, the friendly assistant for Nimbus Cloud Storage. Be concise, "
    "accurate and kind. Never ask for full card numbers or passwords."
)
CHANNELS = ("chat", "chat", "chat", "email", "phone-transcript")
ADDRESS_TOOL = {
    "type": "function",
    "function": {
        "name": "update_address",
        "description": "Update the customer's shipping address",
        "parameters": {
            "type": "object",
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "zip": {"type": "string"},
            },
            "required": ["street", "city", "zip"],
        },
    },
}


@dataclass(frozen=True)
class Topic:
    asks: tuple[str, ...]  # phrasings of the customer's first message
    reply: str  # the support team's answer to it
    follow_up: tuple[str, str] | None = None  # a second user turn and its answer


TOPICS: tuple[Topic, ...] = (
    Topic(
        asks=(
            "Hi, my name is {name} and I can't log in. My account email is {email}.",
            "I'm locked out of my account ({email}). Can you help? - {name}",
            "Password reset please, I forgot mine. The account is {email}.",
        ),
        reply=(
            "Hi {first}, sorry about that! I've sent a password reset link to {email}. It "
            "expires in 30 minutes. Did it arrive?"
        ),
        follow_up=(
            "Got it, thanks. It worked.",
            "Great to hear! Anything else I can help with today?",
        ),
    ),
    Topic(
        asks=(
            "I was charged twice for order {order}. The card ends in {last4}. Please fix this, "
            "you can call me at {phone}.",
            "Double charge on {order}! My card ending {last4} shows two payments. Phone: {phone}",
            "Why did you bill me two times for order {order}? Card ending in {last4}.",
        ),
        reply=(
            "I'm sorry about the double charge on {order}. I can see two authorisations; the "
            "duplicate will drop off within 3-5 business days. I've also added a note so our "
            "billing team can call you if it doesn't."
        ),
    ),
    Topic(
        asks=(
            "How much storage do I get on the Team plan?",
            "What's the storage limit of the Team plan?",
            "How many TB come with Team?",
        ),
        reply=(
            "The Team plan includes 2 TB of pooled storage per workspace, plus 100 GB for each "
            "additional seat. You can see your current usage under Settings → Billing."
        ),
    ),
    Topic(
        asks=(
            "Our sync client keeps failing from the office IP {ip} with error E42.",
            "Sync fails with E42 on every machine behind {ip}. What does it mean?",
            "Error E42 when syncing from our network ({ip}), please help.",
        ),
        reply=(
            "E42 means the connection was blocked by a firewall rule. {ip} isn't on our block "
            "list, so it's likely your office firewall. Please allow outbound HTTPS to "
            "sync.nimbus.example on port 443 and try again."
        ),
        follow_up=("That fixed it!", "Excellent. Happy syncing!"),
    ),
    Topic(
        asks=(
            "Dear support, this is Dr. {last}. I need to verify my identity for our enterprise "
            "contract. My SSN is {ssn}.",
            "For the enterprise verification, here is my social security number: {ssn}. {name}",
        ),
        reply=(
            "Thank you, but please don't share your Social Security number with us — we never "
            "need it. Identity verification for enterprise contracts is done through your "
            "account admin in the Admin Console → Security → Verify organisation."
        ),
    ),
    Topic(
        asks=(
            "Can you set up a direct debit from my account {iban}? Invoices to {email} please.",
            "Please take payments by direct debit from IBAN {iban}.",
        ),
        reply=(
            "I can't take bank details in chat for security reasons, but you can add a SEPA "
            "direct debit yourself under Billing → Payment methods. Invoices will keep going "
            "to the billing email on your account."
        ),
    ),
    Topic(
        asks=(
            "What's the difference between archiving and deleting a folder?",
            "Should I archive or delete old folders? What's the difference?",
            "Does archiving a folder delete it?",
        ),
        reply=(
            "Archiving moves the folder to cold storage: it stops counting towards your quota "
            "after 30 days and can be restored at any time. Deleting moves it to Trash, where "
            "it stays for 30 days before it is removed permanently."
        ),
        follow_up=(
            "Can I restore an archived folder myself?",
            "Yes — open Archive, select the folder and choose Restore. Large folders can take "
            "a few minutes to come back.",
        ),
    ),
    Topic(
        asks=(
            "Hi, I'm {name}. I'd like to cancel my subscription. You can reach me at {phone}.",
            "Please cancel my Nimbus subscription. {name}, {email}",
            "How do I cancel my plan? I don't need it anymore.",
        ),
        reply=(
            "I'm sorry to see you go. You can cancel any time under Settings → Billing → Cancel "
            "plan; your files stay available until the end of the billing period, and you can "
            "download everything before then."
        ),
    ),
    Topic(
        asks=(
            "Hello! {first} from accounting here. Can you resend invoice {invoice}?",
            "I never received invoice {invoice}, could you send it again?",
            "Please resend {invoice} to our accounting team.",
        ),
        reply=(
            "Of course! I've resent invoice {invoice} to the billing email on the account. It "
            "should arrive within a few minutes — please check your spam folder if you don't "
            "see it."
        ),
    ),
    Topic(
        asks=(
            "How do I share a folder with someone outside my company?",
            "Can I share files with an external partner?",
            "Is it possible to give a client access to one folder only?",
        ),
        reply=(
            "Yes: right-click the folder, choose Share, enter their email address and pick "
            "Viewer or Editor. External people need a free Nimbus account; your admin can "
            "turn external sharing off under Admin Console → Sharing."
        ),
    ),
    Topic(
        asks=(
            "I deleted a file by accident yesterday. Can I get it back?",
            "How do I recover a file I deleted last week?",
            "Oops, I removed an important document. Is it gone forever?",
        ),
        reply=(
            "Deleted files stay in Trash for 30 days. Open Trash in the left sidebar, select "
            "the file and choose Restore; it goes back to its original folder."
        ),
    ),
    Topic(
        asks=(
            "How do I turn on two-factor authentication?",
            "Can I add 2FA to my account?",
            "Where do I enable two-step verification?",
        ),
        reply=(
            "Go to Settings → Security → Two-factor authentication and choose an authenticator "
            "app or a security key. Save the backup codes somewhere safe in case you lose your "
            "phone."
        ),
    ),
    Topic(
        asks=(
            "Uploads are really slow today, is something wrong?",
            "Why is uploading so slow? It's been an hour for 2 GB.",
            "My uploads keep stalling at 99%.",
        ),
        reply=(
            "There are no incidents on status.nimbus.example right now. Large uploads go "
            "faster in the desktop app, which resumes interrupted transfers; in the browser, "
            "keep the tab open and avoid VPNs that throttle uploads."
        ),
    ),
    Topic(
        asks=(
            "Can I upgrade from Personal to Team in the middle of the month?",
            "How do I switch my plan to Team?",
            "What happens to my bill if I upgrade to Team now?",
        ),
        reply=(
            "Yes — upgrade under Settings → Billing → Change plan. You pay only the difference "
            "for the rest of this billing period, and the extra storage is available right "
            "away."
        ),
    ),
    Topic(
        asks=(
            "How many people can I add to my Team workspace?",
            "Is there a limit on seats for the Team plan?",
        ),
        reply=(
            "A Team workspace can have up to 250 seats. Add people under Admin Console → Members "
            "→ Invite; each new seat adds 100 GB to the pooled storage."
        ),
    ),
    Topic(
        asks=(
            "Do you have an API for uploading files automatically?",
            "Is there a REST API I can use from our scripts?",
        ),
        reply=(
            "Yes: the Nimbus REST API supports uploads, downloads and sharing. Create a token "
            "under Settings → Developer → API tokens and see docs.nimbus.example/api for "
            "examples."
        ),
    ),
    Topic(
        asks=(
            "Where are my files stored? We need EU data residency.",
            "Can we keep our data in the EU?",
        ),
        reply=(
            "Team and Business workspaces can choose EU storage (Frankfurt and Dublin) when the "
            "workspace is created. To move an existing workspace, ask your admin to open a "
            "migration request under Admin Console → Data residency."
        ),
    ),
    Topic(
        asks=(
            "The desktop app won't start on my Mac after the update.",
            "Nimbus for macOS crashes on launch since this morning.",
        ),
        reply=(
            "Please quit the app, download the latest version from nimbus.example/download "
            "and install it over the old one; your files and settings are kept. If it still "
            "crashes, send us the log from Help → Export diagnostics."
        ),
    ),
)
# How customers open and close a message and how the team greets back: with the topics'
# phrasings, no two conversations read the same (the import would skip exact repeats).
OPENERS = (
    "",
    "",
    "Hi! ",
    "Hello, ",
    "Hey there. ",
    "Quick question: ",
    "Good morning! ",
    "{first} here. ",
    "Hi, this is {name}. ",
)
CLOSERS = ("", "", " Thanks!", " Cheers, {first}", " Thank you.", " Thanks in advance, {name}")
GREETINGS = ("", "Hi {first}! ", "Thanks for reaching out, {first}. ", "Hello {first}, ")
ADDRESS_ASKS = (
    "Please update my shipping address to {street}, {city} {zip}.",
    "I moved! New address: {street}, {city} {zip}.",
)


def person(fake: Faker) -> dict[str, str]:
    first, last = fake.first_name(), fake.last_name()
    return {
        "first": first,
        "last": last,
        "name": f"{first} {last}",
        "email": fake.free_email(),
        "phone": fake.phone_number(),
        "order": f"NB-{fake.random_number(digits=6, fix_len=True)}",
        "invoice": f"INV-{fake.random_number(digits=5, fix_len=True)}",
        "last4": str(fake.random_number(digits=4, fix_len=True)),
        "ip": fake.ipv4_public(),
        "ssn": fake.ssn(),
        "iban": fake.iban(),
        "street": fake.street_address(),
        "city": fake.city(),
        "zip": fake.postcode(),
    }


def address_change(rng: random.Random, who: dict[str, str], index: int) -> list[dict[str, Any]]:
    arguments = {"street": who["street"], "city": who["city"], "zip": who["zip"]}
    call_id = f"call_{index}"
    return [
        {"role": "user", "content": rng.choice(ADDRESS_ASKS).format(**who)},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "update_address", "arguments": json.dumps(arguments)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": '{"ok": true}'},
        {
            "role": "assistant",
            "content": f"Done! Future shipments will go to {who['street']}, {who['city']} "
            f"{who['zip']}.",
        },
    ]


def conversation(rng: random.Random, fake: Faker, index: int) -> dict[str, Any]:
    who = person(fake)
    record: dict[str, Any] = {}
    if rng.random() < 0.08:
        turns = address_change(rng, who, index)
        record["tools"] = [ADDRESS_TOOL]
    else:
        topic = rng.choice(TOPICS)
        ask = rng.choice(OPENERS) + rng.choice(topic.asks) + rng.choice(CLOSERS)
        greeting = "" if topic.reply.startswith("Hi ") else rng.choice(GREETINGS)
        reply = greeting + topic.reply
        turns = [
            {"role": "user", "content": ask.format(**who)},
            {"role": "assistant", "content": reply.format(**who)},
        ]
        if topic.follow_up and rng.random() < 0.5:
            turns += [
                {"role": "user", "content": topic.follow_up[0]},
                {"role": "assistant", "content": topic.follow_up[1]},
            ]
    flaw = rng.random()
    if flaw < 0.03:
        turns[-1] = {"role": "assistant", "content": "ok"}  # a reply too short to learn from
    elif flaw < 0.05 and len(turns) > 2:
        turns = turns[1:]  # starts with the assistant
    messages = turns if flaw < 0.13 else [{"role": "system", "content": SYSTEM}, *turns]
    record = {"messages": messages, **record}
    if rng.random() < 0.8:
        record["ticket"] = f"T-{1000 + index}"
    record["channel"] = rng.choice(CHANNELS)
    return record


def generate() -> list[str]:
    rng = random.Random(SEED)
    fake = Faker("en_US")
    fake.seed_instance(SEED)
    lines: list[str] = []
    for index in range(CONVERSATIONS):
        if lines and rng.random() < 0.03:
            lines.append(rng.choice(lines))  # an exact repeat, which the import reports
            continue
        lines.append(json.dumps(conversation(rng, fake, index), ensure_ascii=False))
    return lines


def main() -> None:
    lines = generate()
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {len(lines)} conversations to {OUTPUT}\n")


if __name__ == "__main__":
    main()
