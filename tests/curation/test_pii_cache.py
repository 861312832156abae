"""Each distinct text of a dataset is analysed once, and the findings are exactly those of
analysing every message: same spans, types and scores, conversation-wide steps included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from curation.models import Conversation, ConversationStatus, Dataset, PiiFinding, PiiTextAnalysis
from curation.services.pii import cache
from curation.services.pii.runs import run_detection_here, start_detection
from tests.factories import ConversationFactory, DatasetFactory

pytestmark = pytest.mark.django_db

GREETING = "Hi! Thanks for contacting Acme support. How can I help you today?"
ASK = "Sure, may I have your full name, e-mail address and order ID please?"
CLOSE = "Is there anything else I can help you with? Have a great day!"

PEOPLE = [
    ("Crystal Minh", "cminh730@email.com", "(977) 625-2661", "3348917502"),
    ("Joseph Banter", "jbanter12@email.com", "(415) 555-0134", "9912004417"),
    ("Alessandro Phoenix", "aphoenix@example.org", "020 7946 0958", "4417790031"),
    ("Sanya Afzal", "sanya.afzal@example.com", "+1 212 555 0199", "5530012877"),
]


def _conversations() -> list[list[dict]]:
    """Repeated templates, messages differing only by a personal value, a name mentioned
    once in full and later alone, list contents, a tool call, and exact repeats."""
    chats = []
    for round_ in range(2):
        for name, email, phone, order in PEOPLE:
            first = name.split()[0]
            chats.append(
                [
                    {"role": "system", "content": "You are Acme's support assistant."},
                    {"role": "assistant", "content": GREETING},
                    {
                        "role": "user",
                        "content": f"Hi, I'm {name} and my jeans came in the wrong size.",
                    },
                    {"role": "assistant", "content": ASK},
                    {"role": "user", "content": f"{name}, {email}, order {order}"},
                    {"role": "assistant", "content": f"Thanks {first}! I'll call you on {phone}."},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": f"My username is {email.split('@')[0]}"}
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                            {
                                "id": f"call_{round_}_{first}",
                                "type": "function",
                                "function": {
                                    "name": "lookup_order",
                                    "arguments": json.dumps({"order_id": order, "email": email}),
                                },
                            }
                        ],
                    },
                    {"role": "user", "content": f"{first.lower()} here again, any news?"},
                    {"role": "assistant", "content": CLOSE},
                ]
            )
    chats.append([{"role": "user", "content": "   "}, {"role": "assistant", "content": GREETING}])
    return chats


def _load(dataset: Dataset) -> None:
    for number, messages in enumerate(_conversations()):
        ConversationFactory(
            dataset=dataset,
            status=ConversationStatus.PENDING_PII,
            source_line=number + 1,
            original=messages,
        )


def _findings(dataset: Dataset) -> list[tuple]:
    return sorted(
        PiiFinding.objects.filter(conversation__dataset=dataset).values_list(
            "conversation__source_line",
            "message_index",
            "field",
            "start",
            "end",
            "entity_type",
            "score",
        )
    )


def _detect(dataset: Dataset, *, rescan_all: bool = False):  # type: ignore[no-untyped-def]
    run = start_detection(dataset=dataset, rescan_all=rescan_all, enqueue=False)
    assert run is not None
    return run_detection_here(run=run)


def test_findings_with_the_cache_equal_findings_without_it(settings):
    cached, reference = DatasetFactory(), DatasetFactory()
    _load(cached)
    _load(reference)

    settings.CURATOR_PII_CACHE = False
    plain = _detect(reference)
    settings.CURATOR_PII_CACHE = True
    first = _detect(cached)
    warm = _detect(cached, rescan_all=True)

    expected = _findings(reference)
    assert {f[5] for f in expected} >= {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"}
    assert _findings(cached) == expected
    assert plain.messages_reused == 0
    # The second round of conversations repeats the first exactly; templates repeat within.
    assert first.messages_analyzed == plain.messages_analyzed
    assert first.messages_reused > first.messages_analyzed / 2
    assert (warm.messages_reused, warm.status) == (warm.messages_analyzed, "succeeded")


def test_a_message_differing_by_a_personal_value_is_analysed_again(dataset):
    for name in ("Anna Berglund", "Lena Holtzmann"):
        ConversationFactory(
            dataset=dataset,
            status=ConversationStatus.PENDING_PII,
            original=[{"role": "user", "content": f"Please call me back, my name is {name}."}],
        )

    run = _detect(dataset)

    assert run.messages_reused == 0
    values = sorted(
        finding.conversation.original[0]["content"][finding.start : finding.end]
        for finding in PiiFinding.objects.filter(entity_type="PERSON")
    )
    assert values == ["Anna Berglund", "Lena Holtzmann"]


def test_the_job_redacts_an_identifier_whole_where_another_message_shows_a_fragment(dataset):
    ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.PENDING_PII,
        original=[
            {"role": "user", "content": "mera loan ref number LD45678902 hai"},
            {"role": "assistant", "content": "ठीक है, LD45678902. कृपया थोड़ा इंतज़ार करें।"},
        ],
    )

    _detect(dataset)

    assert [
        (
            finding.message_index,
            finding.conversation.original[finding.message_index]["content"][
                finding.start : finding.end
            ],
            finding.entity_type,
        )
        for finding in PiiFinding.objects.order_by("message_index")
    ] == [(0, "LD45678902", "ACCOUNT_ID"), (1, "LD45678902", "ACCOUNT_ID")]


def test_changing_the_entities_analyses_again_and_drops_the_old_entries(dataset):
    _load(dataset)
    first = _detect(dataset)
    old = set(PiiTextAnalysis.objects.values_list("fingerprint", flat=True))

    Dataset.objects.filter(pk=dataset.pk).update(pii_entities=["PERSON", "PHONE_NUMBER"])
    dataset.refresh_from_db()
    run = _detect(dataset, rescan_all=True)

    # Nothing came from the earlier analysis: only repeats within this run were reused.
    assert run.messages_reused == first.messages_reused < run.messages_analyzed
    assert not PiiFinding.objects.filter(entity_type="EMAIL_ADDRESS").exists()
    assert PiiFinding.objects.filter(entity_type="PERSON").exists()
    assert not PiiTextAnalysis.objects.filter(fingerprint__in=old).exists()


def test_the_cache_holds_no_text_and_goes_with_the_dataset(dataset):
    _load(dataset)
    _detect(dataset)
    rows = list(PiiTextAnalysis.objects.filter(dataset=dataset).values("key", "spans"))

    assert rows
    stored = json.dumps([row["spans"] for row in rows]) + "".join(
        bytes(row["key"]).hex() for row in rows
    )
    assert "cminh730" not in stored and "Crystal" not in stored
    dataset.delete()
    assert not PiiTextAnalysis.objects.exists()
    assert not Conversation.objects.exists()


def test_a_changed_data_file_of_the_detector_changes_the_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "pii"
    shutil.copytree(cache._DETECTOR_CODE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_DETECTOR_CODE", copy)
    digest = cache._detector_code_digest.__wrapped__
    before = digest()
    (copy / "data").mkdir(exist_ok=True)
    (copy / "data" / "names.txt").write_text("someone\n", encoding="utf-8")

    assert digest() != before


def test_the_fingerprint_names_the_versions_of_the_packages_that_hold_name_and_phone_data() -> None:
    packages = {name for name, _ in cache._versions("en_core_web_sm")}

    assert {"phonenumbers", "jieba", "Faker", "probablepeople"} <= packages
