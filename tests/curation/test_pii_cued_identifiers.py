"""A cue word makes the identifier after it personal data, whatever its shape, and the whole
identifier is one span of one type (never a card or NHS number with digits left over)."""

from __future__ import annotations

import pytest

from curation.pii.analyzer import PiiEngine
from curation.pii.engine import PiiConfig, TextContext, get_engine


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_engine()


def found(engine: PiiEngine, text: str, context: TextContext | None = None) -> dict[str, str]:
    detections = engine.analyze_texts([text], PiiConfig(), contexts=context or TextContext())[0]
    return {d.text: d.entity_type for d in detections}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Order #701-7854123-9632145 never arrived", "701-7854123-9632145"),
        ("my order ID is 4567890123, please check", "4567890123"),
        ("Policy no. LIC-88231904 lapsed last month", "LIC-88231904"),
        ("the ticket number is TKT20240518", "TKT20240518"),
        ("mera account number hai 30219876543", "30219876543"),
        ("AWB: 1234567890123 shows in transit", "1234567890123"),
        # Punctuation between the cue and the identifier: a bracket, a comma, a hyphen, an aside.
        ("My order (111-2223334-4445556) never came.", "111-2223334-4445556"),
        ("your order, ID 111-2223334-4445556, is late", "111-2223334-4445556"),
        ("Order ID (as per the app): 111-2223334-4445556.", "111-2223334-4445556"),
        ("please note it down: REF-7654321.", "REF-7654321"),
        ("mera loan ref numbr h LD45678902. jaldi karo", "LD45678902"),
    ],
)
def test_an_identifier_after_its_cue_is_one_account_id(
    engine: PiiEngine, text: str, value: str
) -> None:
    assert found(engine, text) == {value: "ACCOUNT_ID"}


def test_a_card_number_after_card_is_redacted_even_when_it_fails_luhn(engine: PiiEngine) -> None:
    assert found(engine, "my card number is 4111 1111 1111 1112") == {
        "4111 1111 1111 1112": "CREDIT_CARD"
    }


def test_hinglish_words_between_card_number_and_the_digits_keep_the_cue(engine: PiiEngine) -> None:
    assert found(engine, "haan, card number hai mera 4000123412341234 ok") == {
        "4000123412341234": "CREDIT_CARD"
    }


@pytest.mark.parametrize("handle", ["priya.s@okaxis", "9876543210@ybl", "rahul@paytm"])
def test_upi_handles_are_account_ids(engine: PiiEngine, handle: str) -> None:
    assert found(engine, f"refund it to {handle} please") == {handle: "ACCOUNT_ID"}


def test_a_upi_handle_ending_a_sentence_is_found_but_not_an_email_domain(engine: PiiEngine) -> None:
    assert found(engine, "my gpay one: abc@ybl. do it now") == {"abc@ybl": "ACCOUNT_ID"}
    assert found(engine, "write to abc@upi.example.com") == {"abc@upi.example.com": "EMAIL_ADDRESS"}


def test_a_username_after_its_cue_is_found_even_without_digits(engine: PiiEngine) -> None:
    assert found(engine, "Username: crystalminh") == {"crystalminh": "ACCOUNT_ID"}


def test_my_number_is_makes_ten_digits_a_phone(engine: PiiEngine) -> None:
    assert found(engine, "ok my number is 9123456780 call me") == {"9123456780": "PHONE_NUMBER"}


def test_national_mobiles_are_phones_in_the_datasets_region_only(engine: PiiEngine) -> None:
    text = "pls ring 9123456780 after 5"

    assert found(engine, text, TextContext(region="IN")) == {"9123456780": "PHONE_NUMBER"}
    assert found(engine, text, TextContext(region="")) == {}


@pytest.mark.parametrize(
    "text",
    [
        "Order 3 of the 5 items arrived",
        "the policy changed in 2019 and again in 2021",
        "I need the 500GB one, and 2 days is too long",
        "Version 1.2.3.1 of the account page is live",
        "ek transaction 5000 rupya tha aur dusra 2000 ka",
        "the transaction of Rs. 25000 was not mine",
        "my order came to 1499 rupees with shipping",
    ],
)
def test_numbers_after_a_cue_that_are_no_identifiers_stay(engine: PiiEngine, text: str) -> None:
    assert found(engine, text) == {}
