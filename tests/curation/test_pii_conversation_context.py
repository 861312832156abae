"""The conversation is read, not just the sentence: the agent's question makes the next user
turn its answer, a username that is an e-mail's local part is the same person's, and every
part of a full name is that person."""

from __future__ import annotations

import pytest

from curation.pii.analyzer import PiiEngine
from curation.pii.conversation import analyze_conversation, asked_for, message_contexts
from curation.pii.engine import PiiConfig, get_engine


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_engine()


def detected(
    engine: PiiEngine, messages: list[tuple[str, str]], **settings: object
) -> list[dict[str, str]]:
    found = analyze_conversation(engine, messages, PiiConfig(), **settings)  # type: ignore[arg-type]
    return [{d.text: d.entity_type for d in message} for message in found]


def test_a_bare_name_answering_the_agent_is_a_person(engine: PiiEngine) -> None:
    messages = [("assistant", "Sure, may I have your name please?"), ("user", "crystal minh")]

    assert detected(engine, messages)[1] == {"crystal minh": "PERSON"}


def test_the_same_words_without_the_question_are_left_alone(engine: PiiEngine) -> None:
    messages = [("assistant", "How was the delivery?"), ("user", "crystal clear, thanks")]

    assert detected(engine, messages)[1] == {}


def test_an_order_number_answering_the_agent_is_an_account_id(engine: PiiEngine) -> None:
    messages = [("assistant", "Could you share your order number?"), ("user", "3348917502")]

    assert detected(engine, messages)[1] == {"3348917502": "ACCOUNT_ID"}


def test_an_address_answering_the_agent_is_a_street_address(engine: PiiEngine) -> None:
    messages = [
        ("assistant", "What is the delivery address?"),
        ("user", "its flat 12, lake view apartments, whitefield, bangalore 560066"),
    ]

    found = detected(engine, messages)[1]

    assert found.get("560066") == "ZIP_CODE"
    assert any(
        kind == "STREET_ADDRESS" and value.startswith("flat 12") for value, kind in found.items()
    )


def test_a_username_that_is_an_email_local_part_is_found_everywhere(engine: PiiEngine) -> None:
    messages = [
        ("user", "my email is cminh730@email.com"),
        ("assistant", "Thanks! I see the account cminh730 here."),
    ]

    found = detected(engine, messages)

    assert found[1] == {"cminh730": "ACCOUNT_ID"}


def test_every_part_of_a_full_name_is_the_person(engine: PiiEngine) -> None:
    messages = [
        ("user", "Hi, my name is Meera Krishnan."),
        ("assistant", "Hello meera, and thanks Ms. Krishnan."),
    ]

    found = detected(engine, messages)[1]

    assert "meera" in found
    assert any(value.endswith("Krishnan") for value in found)
    assert set(found.values()) == {"PERSON"}


def test_a_common_word_in_a_name_does_not_make_every_such_word_a_person(engine: PiiEngine) -> None:
    messages = [
        ("user", "Name: Priya Sharma, Address: 12 Hill Road"),
        ("assistant", "Your address is noted."),
    ]

    assert detected(engine, messages)[1] == {}


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("May I have your full name, please?", {"PERSON"}),
        ("Please share the order ID.", {"ACCOUNT_ID"}),
        ("Could you confirm your registered mobile number?", {"PHONE_NUMBER"}),
        ("What's the shipping address?", {"STREET_ADDRESS"}),
        ("What is your email address?", set()),
        ("Thanks for waiting.", set()),
    ],
)
def test_what_an_agent_asks_for(question: str, kinds: set[str]) -> None:
    assert asked_for(question) == frozenset(kinds)


def test_only_a_user_turn_after_an_agent_turn_carries_the_question() -> None:
    contexts = message_contexts(
        [("assistant", "Your name?"), ("user", "Sam"), ("user", "also Jo")],
        region="in",
        languages=["en"],
    )

    assert [c.asked for c in contexts] == [frozenset(), frozenset({"PERSON"}), frozenset()]
    assert {c.region for c in contexts} == {"IN"}
    assert hash(contexts[1]) == hash(contexts[1].asking(frozenset({"PERSON"})))


def test_an_identifier_found_whole_once_replaces_its_fragments_elsewhere(engine: PiiEngine) -> None:
    messages = [
        ("user", "mera loan ref number LD45678902 hai"),
        ("assistant", "ठीक है, LD45678902. कृपया थोड़ा इंतज़ार करें।"),
    ]

    assert detected(engine, messages)[1] == {"LD45678902": "ACCOUNT_ID"}


def test_a_question_split_over_two_agent_messages_makes_the_answer_an_account_id(
    engine: PiiEngine,
) -> None:
    messages = [
        ("assistant", "next I will need the order ID and your email"),
        ("assistant", "please"),
        ("user", "5528103746"),
    ]

    assert detected(engine, messages)[2] == {"5528103746": "ACCOUNT_ID"}
