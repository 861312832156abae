"""What customers type in support chats: identifiers after a cue word, UPI handles, Indian
addresses with their PIN code, and the bare answer to an agent's question.

A cue ("order", "policy", "ticket", "username", "UPI", "card number", "my number is") makes the
identifier after it personal data whatever its shape or checksum, and the whole identifier is
one span: "order #701-7854123-9632145" is one ACCOUNT_ID, never a card number with digits
left over. An agent's question ("may I have your name?") makes the customer's next turn the
answer (see ``TextContext.asked``), and these answers are found here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import phonenumbers
import regex

from curation.pii.config import TextContext
from curation.pii.evidence import lexicon
from curation.pii.recognizers.base import FLAGS

# (start, end, entity type, score)
Found = tuple[int, int, str, float]

# -- identifiers after a cue -----------------------------------------------------------------

_ID_CUES = (
    r"order|ticket|policy|account|acct|a/c|reference|ref|complaint|claim|case|request|"
    r"application|tracking|awb|consignment|shipment|transaction|txn|utr|invoice|booking|pnr|"
    r"reservation|loan|folio|customer|member(?:ship)?|subscriber|subscription|contract|"
    r"registration|serial|imei|student|employee|patient|aadhaa?r|pan|passport|licen[cs]e|"
    r"username|user[ \t]?name|user[ \t]?id|login|upi|vpa|gpay|phonepe|paytm"
)
# Words that may stand between the cue and the identifier: "order ID is #", "policy no. -".
# Words need a boundary after them ("is" is not the start of "island"); punctuation does not
# ("REF-1234567", "order, 321-…"). A short aside without digits may stand there too
# ("order ID (I think): …"), and the identifier may open a bracket ("my order (…)").
_ID_FILLER = (
    r"(?:[ \t]*(?:(?i:id|no\.?|number|numbr|nmbr|num|nr\.?|code|ref(?:erence)?|is|was|hai|h|with|of|"
    r"details?|handle|address|mera|meri|my|the|it's|its)(?![\p{L}\d])|[#:=,\-(]|"
    r"\([^()\d\n]{1,20}\))){0,4}"
)
# An identifier: letters, digits and joiners with at least three digits (or a handle '@').
_ID_VALUE = (
    r"(?:[\p{L}\d][\p{L}\d.\-_]*@[\p{L}][\p{L}\d.\-]*[\p{L}\d]|"
    r"#?(?=[\p{L}\d\-/_]*\d[\p{L}\d\-/_]*\d[\p{L}\d\-/_]*\d)[\p{L}\d][\p{L}\d\-/_]{2,40}[\p{L}\d])"
)
_CUED_ID = regex.compile(
    rf"(?<![\p{{L}}])(?i:{_ID_CUES})(?![\p{{L}}]){_ID_FILLER}[ \t]*#?[ \t]*"
    rf"(?P<pii>{_ID_VALUE})(?![\p{{L}}\d\-/_@])",
    FLAGS,
)
# Usernames are often letters only ("username: crystalm"): after these cues any token counts.
_USERNAME = regex.compile(
    r"(?<![\p{L}])(?i:user[ \t]?name|user[ \t]?id|login[ \t]?id)[ \t]*(?i:is|:|=|-)?[ \t]*"
    r"(?P<pii>[\p{L}\d][\p{L}\d._\-]{2,40})(?![\p{L}\d@])",
    FLAGS,
)
# Between "card number" and the digits, any of a few short words in English or Hinglish
# ("card number hai mera …", "card no. is: …").
_CARD_CUE = regex.compile(
    r"(?i)(?:card|debit|credit)[ \t]*(?:no\.?|number|num|#|details)?"
    r"(?:[ \t]*(?:(?:is|hai|mera|meri|my|the|was)(?![\p{L}\d])|[:\-,]))*[ \t]*"
    r"(?P<pii>\d(?:[ \-]?\d){11,18})(?![\d\-])",
    FLAGS,
)
_PHONE_CUE = regex.compile(
    r"(?i)(?:(?:my|mera|the|your|registered|alternate|contact|mobile|phone|cell|whatsapp)[ \t]+)"
    r"(?:phone[ \t]+|mobile[ \t]+|contact[ \t]+|cell[ \t]+|whatsapp[ \t]+)?"
    r"(?:number|no\.?|num|nr)[ \t]*(?:is|was|hai|:|-)?[ \t]*"
    r"(?P<pii>\+?\(?\d[\d \-().]{6,18}\d)(?![\d\-])",
    FLAGS,
)
# UPI handles name their payment provider after '@' (NPCI's published list); no domain part
# follows (a full stop ending the sentence may).
_UPI = regex.compile(
    r"(?<![\p{L}\d.\-_])(?P<pii>[\p{L}\d][\p{L}\d.\-_]{1,60}@(?i:ok[a-z]{2,10}|ybl|ibl|axl|"
    r"apl|paytm|upi|icici|sbi|hdfcbank|axisbank|kotak|yapl|ikwik|freecharge|jio|airtel|"
    r"pingpay|waaxis|wahdfcbank|wasbi|waicici|barodampay|idfcbank|indus|rbl|federal|kmbl|"
    r"fbl|pnb|boi|unionbank|cnrb|aubank|yesbank|abfspay|timecosmos|ptyes|ptaxis|pthdfc|ptsbi))"
    r"(?![\p{L}\d\-_@]|\.[\p{L}\d])",
    FLAGS,
)
# A sum of money ("transaction 5000 rupya", "Rs. 25,000", "₹1500") is no identifier.
_CURRENCY_AFTER = regex.compile(
    r"[ \t]*(?:/-|(?i:rs|inr|rupees?|rupy?a|rupaye|rupaiye|usd|dollars?|euros?|eur|gbp|"
    r"pounds?|yuan|rmb)(?![\p{L}]))"
)
_CURRENCY_BEFORE = regex.compile(r"(?:[₹$€£¥]|(?i:rs|inr|usd|eur|gbp|rmb)\.?)[ \t]*$")


def is_amount(text: str, start: int, end: int) -> bool:
    """Whether the number at ``text[start:end]`` is written as a sum of money."""
    return bool(
        _CURRENCY_AFTER.match(text, end) or _CURRENCY_BEFORE.search(text, max(0, start - 6), start)
    )


_JOINED_PREFIX = regex.compile(r"(?<![\p{L}\d])\p{L}{2,12}-$")
# Numbers after these are never identifiers of a person (quantities, prices, sizes).
_NOT_AN_ID = regex.compile(r"^(?:\d{1,2}|(?:19|20)\d\d)$")


def cued_identifiers(text: str) -> Iterator[Found]:
    """Identifiers after a cue word, UPI handles, card and phone numbers after theirs."""
    for match in _CUED_ID.finditer(text):
        start, end = match.span("pii")
        value = text[start:end]
        if value.startswith("#"):
            start += 1
            value = value[1:]
        if _NOT_AN_ID.match(value) or is_amount(text, start, end):
            continue
        # A cue joined to its number ("REF-2023-001") is the identifier's own prefix.
        joined = _JOINED_PREFIX.search(text, 0, start)
        if joined is not None:
            start = joined.start()
        yield start, end, "ACCOUNT_ID", 0.85
    for match in _USERNAME.finditer(text):
        word = match.group("pii")
        if word.casefold() not in _NOT_USERNAMES:
            yield *match.span("pii"), "ACCOUNT_ID", 0.85
    for match in _UPI.finditer(text):
        yield *match.span("pii"), "ACCOUNT_ID", 0.85
    for match in _CARD_CUE.finditer(text):
        yield *match.span("pii"), "CREDIT_CARD", 0.85
    for match in _PHONE_CUE.finditer(text):
        digits = sum(ch.isdigit() for ch in match.group("pii"))
        if 7 <= digits <= 15:
            yield *match.span("pii"), "PHONE_NUMBER", 0.85


_NOT_USERNAMES = frozenset(
    "is was and or the my your same please pls correct different wrong not".split()  # noqa: SIM905
)


# -- national phone numbers of the dataset's region ----------------------------------------------

_DIGITS = regex.compile(
    r"(?<![\p{L}\d\-/.:#@])(?P<pii>\+?\d[\d \-]{8,14}\d)(?![\p{L}\d\-/@]|[.,]\d)"
)


@lru_cache(maxsize=4096)
def valid_national_number(value: str, region: str) -> bool:
    """Whether ``value`` is a valid phone number of ``region`` (libphonenumber's metadata)."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and (
        phonenumbers.number_type(number)
        in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    )


def national_phones(text: str, region: str) -> Iterator[Found]:
    """Unseparated mobile numbers valid in the dataset's region ("9876543210" in India)."""
    if not region:
        return
    for match in _DIGITS.finditer(text):
        value = match.group("pii")
        if " " in value.strip() and not value.startswith("+"):
            continue
        if valid_national_number(value, region) and len(set(value) - set(" -+")) > 2:
            yield *match.span("pii"), "PHONE_NUMBER", 0.6


# -- Indian addresses ------------------------------------------------------------------------------

_HOUSE = (
    r"(?:(?i:flat|house|h\.?[ \t]?no|plot|door|shop|room|block|apartment|apt|c/o)\.?[ \t]*"
    r"(?i:no\.?|number|#)?[ \t]*[\p{L}\d][\p{L}\d/\-]*|#?(?:\p{L}-?)?\d{1,5}(?:[/\-]\p{L}?\d*)?\p{L}?)"
)
_SEGMENT = r"[\p{L}\d][\p{L}\d .'()/&\-]{0,40}"
# House or flat, then two to seven comma-separated parts, then a PIN code (six digits, the
# first not zero, sometimes written 3 + 3).
_IN_ADDRESS = regex.compile(
    rf"(?<![\p{{L}}\d\-/])(?P<street>{_HOUSE}(?:[ \t]*,[ \t]*|[ \t]+){_SEGMENT}"
    rf"(?:[ \t]*,[ \t]*{_SEGMENT}){{0,6}}?)"
    rf"[ \t]*[,\-\u2013][ \t]*(?:{_SEGMENT}[ \t]*[,\-\u2013]?[ \t]*)?(?P<pin>[1-9]\d{{2}}[ \t]?\d{{3}})(?![\d\-])",
    FLAGS,
)
_PIN_ALONE = regex.compile(
    r"(?i:pin[ \t]?code|pincode|pin)[ \t]*(?:is|hai|:|-)?[ \t]*(?P<pin>[1-9]\d{2}[ \t]?\d{3})(?!\d)",
    FLAGS,
)


def indian_addresses(text: str) -> Iterator[Found]:
    """Addresses of the Indian form: "flat 4, shanti nagar apartments, new delhi - 110001"."""
    for match in _IN_ADDRESS.finditer(text):
        yield match.start("street"), match.end("street"), "STREET_ADDRESS", 0.7
        yield *match.span("pin"), "ZIP_CODE", 0.7
    for match in _PIN_ALONE.finditer(text):
        yield *match.span("pin"), "ZIP_CODE", 0.7


# -- the answer to the agent's question ----------------------------------------------------------

# What may open an answer: "its", "sure, it's", "my name is", "this is", "name:".
_LEAD = regex.compile(
    r"^[ \t]*(?:(?i:ok(?:ay)?|sure|yes|yeah|ya|yep|hi|hello|sorry|oh|hmm|ah|so|well|fine|"
    r"thanks|thank[ \t]you)[ \t]*[,.!]*[ \t]*)*"
    r"(?:(?i:it'?s|it\u2019s|it[ \t]is|this[ \t]is|i'?m|i[ \t]am|i\u2019m|my[ \t]name[ \t]is|"
    r"name[ \t]*(?:is|:|-)|the[ \t]name[ \t]is|here)[ \t]*:?[ \t]*)?"
)
_ANSWER_NAME = regex.compile(
    r"(?P<pii>[\p{L}][\p{L}'\u2019\-]+(?:[ \t]+[\p{L}][\p{L}'\u2019\-]+){0,2})"
    r"[ \t]*(?:$|[,.!;:\n(]|(?i:here|speaking|and|,)\b)"
)
# An identifier in an answer has five digits or more ("500GB", "48 hrs" are not ids).
_ANSWER_NUMBER = regex.compile(
    r"(?<![\p{L}\d])#?(?P<pii>(?=(?:[\p{L}\-/]*\d){5})[\p{L}\d][\p{L}\d\-/]{3,40}[\p{L}\d])"
    r"(?![\p{L}\d])"
)
_ANSWER_PHONE = regex.compile(r"(?<![\d\-])(?P<pii>\+?\(?\d[\d \-().]{5,18}\d)(?![\d\-])")
# An address as the whole answer: house or flat, then comma-separated parts.
_ANSWER_STREET = regex.compile(
    rf"(?P<pii>{_HOUSE}(?![ \t]*(?i:days?|hrs?|hours?|mins?|minutes?|weeks?|months?|digits?|"
    rf"times|items?|pcs|gb|mb|tb|kg|g|rs|inr|%))[ \t]*,?[ \t]*[\p{{L}}\d][\p{{L}}\d .'/\-]*"
    rf"(?:[ \t]*,[ \t]*[\p{{L}}\d][\p{{L}}\d .'/\-]*){{1,6}})"
)


def answers(text: str, context: TextContext, entities: frozenset[str]) -> Iterator[Found]:
    """The value the customer gives in answer to what the agent asked."""
    asked = context.asked & entities
    if not asked:
        return
    if "PERSON" in asked:
        yield from _name_answer(text)
    if "ACCOUNT_ID" in asked:
        for match in _ANSWER_NUMBER.finditer(text):
            if not _NOT_AN_ID.match(match.group("pii")) and not is_amount(text, *match.span("pii")):
                yield *match.span("pii"), "ACCOUNT_ID", 0.8
    if "PHONE_NUMBER" in asked:
        for match in _ANSWER_PHONE.finditer(text):
            if 7 <= sum(ch.isdigit() for ch in match.group("pii")) <= 15:
                yield *match.span("pii"), "PHONE_NUMBER", 0.8
    if "STREET_ADDRESS" in asked and _IN_ADDRESS.search(text) is None:
        lead = _LEAD.match(text)
        street = _ANSWER_STREET.match(text, lead.end() if lead else 0)
        if street is not None:
            value = street.group("pii").rstrip(" .,")
            yield street.start(), street.start() + len(value), "STREET_ADDRESS", 0.7


def _name_answer(text: str) -> Iterator[Found]:
    """A bare name given as the answer ("Crystal Minh", "its priya banerjee. look, ...")."""
    lead = _LEAD.match(text)
    start = lead.end() if lead else 0
    match = _ANSWER_NAME.match(text, start)
    if match is None:
        return
    lex = lexicon()
    kept = []
    listed_any = False
    # The whole reply is the name ("crystal minh"): words that are also common ones count.
    whole = not text[match.end("pii") :].strip(" \t.!,;:)\n")
    common, rare = (
        (_WHOLE_COMMON_ZIPF, _WHOLE_RARE_ZIPF)
        if whole
        else (
            _ANSWER_COMMON_ZIPF,
            _ANSWER_RARE_ZIPF,
        )
    )
    for word in match.group("pii").split():
        folded = word.casefold().strip("'\u2019")
        zipf = lex.zipf(folded)
        listed = folded in lex.first or folded in lex.last
        # A listed name that is also a common word ("any", "will") is the word; an unlisted
        # word must be rare and not an acronym ("HDFC").
        if listed and zipf < common:
            listed_any = True
        elif listed or zipf >= rare or word.isupper():
            break
        kept.append(word)
    if not kept or not listed_any:
        return
    value = " ".join(kept)
    s = match.start("pii")
    yield s, s + len(value), "PERSON", 0.8


# A word this frequent in English ("sure", "wrong", "delivered") is no name in an answer.
_ANSWER_COMMON_ZIPF = 4.0
_ANSWER_RARE_ZIPF = 2.5
_WHOLE_COMMON_ZIPF = 5.0
_WHOLE_RARE_ZIPF = 5.0
