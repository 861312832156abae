"""PiiEngine: batch detection, configuration, and the end-to-end leak check with redaction."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from curation.pii.analyzer import PiiEngine
from curation.pii.engine import (
    DEFAULT_ENTITIES,
    DEFAULT_MODEL,
    Detection,
    PiiConfig,
    configured_model_name,
    get_engine,
)
from curation.pii.recognizers import base as recognizer_base
from curation.pii.redaction import iter_text_fields, redact_messages


@pytest.fixture(scope="session")
def engine() -> PiiEngine:
    return get_engine(DEFAULT_MODEL)


def found(detections: list[Detection]) -> set[tuple[str, str]]:
    return {(d.entity_type, d.text) for d in detections}


def test_structured_identifiers_and_names_are_detected(engine: PiiEngine) -> None:
    texts = [
        "My email is maria.lopez@example.com and my phone is +44 20 7946 0958.",
        "Charge card 4111 1111 1111 1111 please, my SSN is 219-09-9999.",
        "Wire it to GB82 WEST 1234 5698 7654 32 today.",
        "The server at 192.168.10.42 is down.",
        "Hi, my name is Priya Raman and I'm 34 years old.",
        "Ship it to 42 Elm Street, Apt. 5, Springfield, IL 62704.",
    ]

    results = engine.analyze_texts(texts, PiiConfig())

    assert {
        ("EMAIL_ADDRESS", "maria.lopez@example.com"),
        ("PHONE_NUMBER", "+44 20 7946 0958"),
    } <= found(results[0])
    assert {("CREDIT_CARD", "4111 1111 1111 1111"), ("US_SSN", "219-09-9999")} <= found(results[1])
    assert ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32") in found(results[2])
    assert ("IP_ADDRESS", "192.168.10.42") in found(results[3])
    # Ages are no personal data by default (see curation.pii.policy); a dataset can opt in.
    assert found(results[4]) == {("PERSON", "Priya Raman")}
    with_age = PiiConfig(entities=["PERSON", "AGE"])
    assert ("AGE", "34") in found(engine.analyze_texts([texts[4]], with_age)[0])
    street = [d for d in results[5] if d.entity_type == "STREET_ADDRESS"]
    assert street and street[0].text.startswith("42 Elm Street, Apt. 5")
    assert ("ZIP_CODE", "62704") in found(results[5])


def test_detections_point_into_their_own_text(engine: PiiEngine) -> None:
    texts = ["", "   ", "Dear Tomasz Nowak,\nplease call 555-201-4477.", "no personal data here"]

    results = engine.analyze_texts(texts, PiiConfig(), batch_size=2)

    assert len(results) == len(texts)
    assert results[0] == [] and results[1] == [] and results[3] == []
    for text, detections in zip(texts, results, strict=True):
        for detection in detections:
            assert text[detection.start : detection.end] == detection.text
    assert ("PERSON", "Tomasz Nowak") in found(results[2])


def test_batching_does_not_change_results(engine: PiiEngine) -> None:
    texts = [
        "Contact Olga Petrova at olga@example.org.",
        "Nothing to see.",
        "Dr. Kwame Mensah lives in Accra and his number is (233) 302-555-019.",
    ]
    config = PiiConfig()

    together = engine.analyze_texts(texts, config, batch_size=3)
    one_by_one = [engine.analyze_texts([text], config)[0] for text in texts]

    assert together == one_by_one


def test_overlapping_detections_are_resolved(engine: PiiEngine) -> None:
    text = "Please ask Mr. John Smith (john.smith@example.com) about 221B Baker Street, London."

    detections = engine.analyze_texts([text], PiiConfig())[0]

    for first, second in itertools.pairwise(detections):
        assert first.end <= second.start
    assert ("PERSON", "Mr. John Smith") in found(detections)
    assert ("EMAIL_ADDRESS", "john.smith@example.com") in found(detections)


def test_only_requested_entities_are_reported(engine: PiiEngine) -> None:
    text = "Ana Costa, ana.costa@example.com, 415-555-0199"

    detections = engine.analyze_texts([text], PiiConfig(entities=["EMAIL_ADDRESS"]))[0]

    assert found(detections) == {("EMAIL_ADDRESS", "ana.costa@example.com")}


def test_threshold_drops_less_certain_detections(engine: PiiEngine) -> None:
    text = "Ana Costa wrote from ana.costa@example.com"

    low = engine.analyze_texts([text], PiiConfig(threshold=0.3))[0]
    high = engine.analyze_texts([text], PiiConfig(threshold=0.99))[0]

    assert ("PERSON", "Ana Costa") in found(low)
    assert found(high) == {("EMAIL_ADDRESS", "ana.costa@example.com")}


def test_allow_list_values_are_never_reported(engine: PiiEngine) -> None:
    text = "Ask Ana Costa or Pedro Alves, or mail help@acme.example.com"
    config = PiiConfig(allow_list=["ana costa", "help@acme.example.com"])

    detections = engine.analyze_texts([text], config)[0]

    assert ("PERSON", "Pedro Alves") in found(detections)
    assert not {d.text for d in detections} & {"Ana Costa", "help@acme.example.com"}


def test_deny_list_values_are_always_reported(engine: PiiEngine) -> None:
    text = "The codename is bluebird; BLUEBIRD ships Friday, bluebirds do not."
    config = PiiConfig(entities=["EMAIL_ADDRESS"], threshold=1.0, deny_list=["Bluebird"])

    detections = engine.analyze_texts([text], config)[0]

    assert [(d.entity_type, d.text) for d in detections] == [
        ("DENY_LIST", "bluebird"),
        ("DENY_LIST", "BLUEBIRD"),
    ]


def test_deny_list_entity_name_is_configurable(engine: PiiEngine) -> None:
    config = PiiConfig(deny_list=["Bluebird"], deny_list_entity="PROJECT")

    detections = engine.analyze_texts(["Bluebird is late"], config)[0]

    assert found(detections) == {("PROJECT", "Bluebird")}


def test_custom_patterns_are_reported_with_their_entity(engine: PiiEngine) -> None:
    config = PiiConfig(
        entities=["PERSON"],
        patterns=[{"entity": "EMPLOYEE_ID", "pattern": r"\bEMP-\d{6}\b", "score": 0.3}],
    )

    detections = engine.analyze_texts(["Badge EMP-004211 belongs to Lena Fischer"], config)[0]

    assert found(detections) == {("EMPLOYEE_ID", "EMP-004211"), ("PERSON", "Lena Fischer")}


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"entity": "EMPLOYEE_ID", "pattern": "EMP-(\\d+", "score": 0.9}, "invalid regular"),
        ({"entity": "EMPLOYEE_ID", "pattern": "\\d*", "score": 0.9}, "empty string"),
        ({"entity": "employee id", "pattern": "EMP", "score": 0.9}, "upper-case"),
        ({"entity": "EMPLOYEE_ID", "pattern": "EMP", "score": 3}, "between 0 and 1"),
    ],
)
def test_bad_custom_patterns_are_rejected_with_a_clear_error(
    pattern: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PiiConfig(patterns=[pattern])


def test_config_from_stored_settings_ignores_unknown_keys() -> None:
    config = PiiConfig.from_dict({"threshold": 0.6, "operator": "tag", "deny_list": ["x"]})

    assert config.threshold == 0.6
    assert config.deny_list == ["x"]
    assert config.entities == list(DEFAULT_ENTITIES)


def test_long_texts_are_split_for_ner_with_correct_offsets(engine: PiiEngine) -> None:
    filler = "The weather report said nothing of note today. " * 600
    text = filler + "Yesterday Tomasz Nowak called from Warsaw."

    detections = engine.analyze_texts([text], PiiConfig())[0]

    names = [d for d in detections if d.entity_type == "PERSON"]
    assert [text[d.start : d.end] for d in names] == ["Tomasz Nowak"]
    assert names[0].start > len(filler)


def test_engine_is_cached_per_model_and_follows_the_setting(
    engine: PiiEngine, settings: Any
) -> None:
    settings.CURATOR_SPACY_MODEL = DEFAULT_MODEL

    assert configured_model_name() == DEFAULT_MODEL
    assert get_engine() is engine
    assert get_engine(DEFAULT_MODEL) is engine


def test_only_the_ner_components_run(engine: PiiEngine) -> None:
    assert "ner" in engine.nlp.pipe_names
    assert not {"parser", "tagger", "lemmatizer"} & set(engine.nlp.pipe_names)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts


def test_email_validation_never_touches_the_network(
    engine: PiiEngine, no_network: list[Any]
) -> None:
    # Forget the loaded suffix list so this check covers its first load too.
    recognizer_base._OFFLINE_TLD_EXTRACT._extractor = None

    detections = engine.analyze_texts(["write to someone@mail.example.co.uk"], PiiConfig())[0]

    assert found(detections) == {("EMAIL_ADDRESS", "someone@mail.example.co.uk")}
    assert no_network == []


PLANTED = {
    "emails": ["j.doe@example.com", "kim_lee99@mail.example.org"],
    "phones": ["+1 415-555-0134", "(212) 555-0199", "+49 30 901820"],
    "cards": ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"],
    # Not the famous sample numbers (078-05-1120, 123-45-6789…): Presidio deliberately
    # ignores those as placeholders.
    "ssns": ["219-09-9999", "536-22-8726"],
    "ibans": ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"],
    "ips": ["10.20.30.40", "172.16.254.1", "2001:db8::ff00:42:8329"],
    "names": ["Jonathan Whitaker", "Mei Tanaka", "Carlos Mendoza"],
}


def planted_conversation() -> list[dict[str, Any]]:
    p = PLANTED
    arguments = json.dumps(
        {"recipient": p["emails"][1], "note": f"Card {p['cards'][2]}, SSN {p['ssns'][1]}"}
    )
    return [
        {"role": "system", "content": "You are a billing assistant."},
        {
            "role": "user",
            "content": (
                f"Hi, I'm {p['names'][0]}. Reach me at {p['emails'][0]} or {p['phones'][0]}. "
                f"My card is {p['cards'][0]} and my SSN is {p['ssns'][0]}."
            ),
        },
        {
            "role": "assistant",
            "content": f"Thanks {p['names'][0]}. I will contact {p['names'][1]} about it.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "notify", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": f"Logged from {p['ips'][0]}."},
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": (
                        f"Also pay IBAN {p['ibans'][0]} (or {p['ibans'][1]}) with card "
                        f"{p['cards'][1]}; office line {p['phones'][1]}, Berlin {p['phones'][2]}. "
                        f"Servers {p['ips'][1]} and {p['ips'][2]}. Say hello to {p['names'][2]}."
                    ),
                }
            ],
        },
    ]


@pytest.mark.parametrize("operator", ["tag", "surrogate", "mask"])
def test_planted_pii_does_not_survive_analysis_and_redaction(
    engine: PiiEngine, operator: str
) -> None:
    messages = planted_conversation()
    fields = list(iter_text_fields(messages))
    results = engine.analyze_texts([text for _, _, text in fields], PiiConfig())
    findings = [
        {
            "message_index": index,
            "field": field,
            "start": d.start,
            "end": d.end,
            "entity_type": d.entity_type,
            "decision": "redact",
        }
        for (index, field, _), detections in zip(fields, results, strict=True)
        for d in detections
    ]

    redacted = redact_messages(messages, findings, operator=operator, seed="leak-test")

    dumped = json.dumps(redacted, ensure_ascii=False)
    # The same numbers written with other separators would leak just the same.
    compact = dumped.replace(" ", "").replace("-", "")
    for kind, values in PLANTED.items():
        for value in values:
            assert value not in dumped, f"{kind} value {value!r} leaked with {operator}"
            if kind in ("cards", "ssns", "ibans"):
                assert value.replace(" ", "").replace("-", "") not in compact
    arguments = redacted[2]["tool_calls"][0]["function"]["arguments"]
    assert set(json.loads(arguments)) == {"recipient", "note"}
    assert redacted[0] == messages[0]


def test_the_pronoun_after_a_name_is_not_a_person(engine: PiiEngine) -> None:
    (found,) = engine.analyze_texts(
        ["Hi, my name is Chris Curtis and I can't log in."], PiiConfig()
    )
    assert [(d.text, d.entity_type) for d in found] == [("Chris Curtis", "PERSON")]


def test_a_self_introduction_by_first_name_is_a_person_and_the_greeting_is_not(
    engine: PiiEngine,
) -> None:
    texts = [
        "Hello! Courtney from accounting here. Can you resend the invoice?",
        "Hi, Sam here, quick question.",
        "Nothing here works. London here is rainy.",
    ]

    results = engine.analyze_texts(texts, PiiConfig())

    assert found(results[0]) == {("PERSON", "Courtney")}
    assert found(results[1]) == {("PERSON", "Sam")}
    assert found(results[2]) == set()
