"""Phone numbers, payment card numbers and labelled account ids."""

from __future__ import annotations

import regex

from curation.pii.recognizers.base import RegexRecognizer, Rule

# ---------------------------------------------------------------------------------------------
# Phone numbers

_PHONE_CANDIDATE = (
    r"(?<![\w+\-/.:])(?<!\d,)"
    r"(?P<pii>(?:\+|00)?(?:\(\d{1,5}\)|\d)(?:[ \t.\-]?(?:\(\d{1,5}\)|\(0\)|\d)){5,20}"
    r"(?:[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6})?)"
    r"(?!\w|-\d|/|[.,]\d)"
)
_DATE_LIKE = regex.compile(
    r"^(?:\d{4}[\-./]\d{1,2}[\-./]\d{1,2}|\d{1,2}[\-./]\d{1,2}[\-./]\d{2,4})(?:[ \t]+\d{1,2})?$"
)
_SSN_LIKE = regex.compile(r"^\d{3}-\d{2}-\d{4}$")
# "1903-1950", "2019 / 2024": a range of years, not a phone number.
_YEAR_RANGE = regex.compile(r"^(?:1[5-9]|20)\d\d[ \t]*[\-\u2013/][ \t]*(?:1[5-9]|20)\d\d$")
_ZIP4_LIKE = regex.compile(r"^\d{5}-\d{4}$")
_IP_LIKE = regex.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_NANP = regex.compile(r"^(?:\+?1[ \t.\-]?)?(?:\(\d{3}\)[ \t]?|\d{3}[ \t.\-])\d{3}[ \t.\-]\d{4}$")
_EXTENSION = regex.compile(r"[ \t]*(?:x|ext\.?|extension|#)[ \t]*\d{1,6}$", regex.IGNORECASE)
_DIGIT = regex.compile(r"\d")


def _phone_score(value: str) -> float | None:
    number = _EXTENSION.sub("", value)
    digits = len(_DIGIT.findall(number))
    if digits < 7 or digits > 15:
        return None
    if _DATE_LIKE.match(number) or _SSN_LIKE.match(number) or _ZIP4_LIKE.match(number):
        return None
    if _YEAR_RANGE.match(number):
        return None
    if _IP_LIKE.match(number):
        return None
    separated = any(ch in number for ch in " .-()\t")
    bare = number.lstrip("+")
    if len(set(bare.replace(" ", "").replace("-", "").replace(".", ""))) <= 2:
        return None
    if number.startswith("00") and digits < 10:
        # "00" opens an international number only before a country code and a full number.
        return None
    if number.startswith("+") or number.startswith("00") or "(" in number:
        return 0.7
    if _NANP.match(number):
        return 0.7
    if _not_a_phone(number):
        return None
    if not separated:
        # A bare run of digits is as likely an order number as a phone: context decides.
        return 0.3
    return 0.5


def _not_a_phone(number: str) -> bool:
    """Numbers that only look like phones: a decimal ("3.14159265358979"), a version
    ("10.0.19041.1"), an ISBN ("978-0-06-112008-4", "0-06-112008-1") or a list of small
    numbers ("1 2 3 4 5 6 7 8 9 10")."""
    dots, hyphens = number.count("."), number.count("-")
    groups = regex.split(r"[ \t.\-]+", number.strip("+"))
    if (
        dots
        and not hyphens
        and " " not in number
        and (dots == 1 or any(len(group) == 1 or len(group) > 4 for group in groups))
    ):
        return True
    if hyphens >= 2 and len(groups[-1]) == 1:
        return True
    digits = "".join(groups)
    if len(digits) == 13 and digits[:3] in ("978", "979") and _isbn13_valid(digits):
        return True
    return len(groups) >= 5 and sum(len(group) == 1 for group in groups) * 2 > len(groups)


def _isbn13_valid(digits: str) -> bool:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return total % 10 == 0


def phone_recognizer() -> RegexRecognizer:
    """Phone numbers in international and national formats, without per-region parsing.

    Presidio's phone recognizer runs libphonenumber's matcher once per region, which costs
    more than the whole NER pass and still misses formats of regions it was not given.
    """
    return RegexRecognizer(
        name="CuratorPhoneRecognizer",
        entity="PHONE_NUMBER",
        rules=[Rule("phone", _PHONE_CANDIDATE, 0.5, validate=_phone_score)],
        context=[
            "phone",
            "telephone",
            "tel",
            "cell",
            "mobile",
            "mob",
            "call",
            "fax",
            "desk",
            "office",
            "home",
            "work",
            "contact",
            "reach",
            "text",
            "sms",
            "whatsapp",
        ],
        gate=r"\d{2}",
    )


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_score(value: str) -> float | None:
    digits = value.replace(" ", "").replace("-", "")
    if not 12 <= len(digits) <= 19 or len(set(digits)) < 3 or not _luhn_valid(digits):
        return None
    return 0.3


def card_number_recognizer() -> RegexRecognizer:
    """Checksum-valid card numbers of any issuer prefix, reported only near card context.

    Presidio's recognizer only knows the major issuers' prefixes; a Luhn-valid 12-19 digit
    number after "card" is just as sensitive, while without context it is as likely an id.
    """
    return RegexRecognizer(
        name="CuratorCardNumberRecognizer",
        entity="CREDIT_CARD",
        rules=[
            Rule(
                "luhn",
                r"(?<![\w\-])(?P<pii>\d(?:[ \-]?\d){11,18})(?![\w\-])",
                0.3,
                validate=_card_score,
            )
        ],
        context=["card", "credit", "debit", "visa", "mastercard", "amex", "cc", "payment"],
        gate=r"\d{4}",
    )


# ---------------------------------------------------------------------------------------------
# Account, customer and member ids; dates of birth

_ID_VALUE = r"(?=[A-Z\d\-]*\d{3})[A-Z\d][A-Z\d\-]{3,24}[A-Z\d]"


def account_id_recognizer() -> RegexRecognizer:
    """Ids of a person's account with a business, only where a label says so.

    A bare number is as likely an order, a ticket or a quantity; "customer ID CUST-0048213",
    "account no. 88310472" or "member ID MBR4471902" name a person's account.
    """
    label = (
        r"(?i:(?:customer|client|account|acct|member(?:ship)?|user|subscriber|loyalty|"
        r"policy(?:holder)?|patient|student|employee|player|contract)[ \t]*"
        r"(?:id|number|no\.?|num|nr\.?|#|code|ref(?:erence)?)|"
        r"(?:id|number|no\.?)[ \t]+of[ \t]+(?:my|the)[ \t]+account|"
        r"(?:under|on)[ \t]+account(?:[ \t]+(?:no\.?|number|#))?)"
    )
    return RegexRecognizer(
        name="CuratorAccountIdRecognizer",
        entity="ACCOUNT_ID",
        rules=[
            Rule(
                "labelled id",
                rf"\b{label}[ \t]*(?:is|was|:|=|-)?[ \t]*#?[ \t]*(?P<pii>{_ID_VALUE})(?![\w\-])",
                0.75,
            )
        ],
        gate=r"\d{3}",
    )
