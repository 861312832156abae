"""The NER prefilter: texts that cannot yield a reported NER name skip spaCy's NER, and the
detector's findings are the same as with the NER run on every text."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pytest

from curation.pii.analyzer import PiiEngine
from curation.pii.config import PiiConfig
from curation.pii.conversation import message_contexts
from curation.pii.engine import DEFAULT_MODEL, get_engine
from curation.pii.evidence import holds_listed_name, may_name_listed_person

CUCOM = (
    Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "cucom_ecommerce_support.jsonl.xz"
)

# Names in the places where tokens and whitespace split words differently.
EDGE_TEXTS = [
    "Hi, this is Priya Sharma, my order has not arrived.",
    "Please send it to Maria's address, the one I gave you.",
    "Ask Jean-Luc about the parcel.",
    "O'Brien called me about the refund yesterday.",
    "Regards,\nRahul Verma",
    "My colleague Priya\u00a0Raman will pick it up.",
    "I spoke to (Anjali) and she said it's fine!",
    "Dear Mr. Kumar, thanks for your help.",
    "Sharma.",
    # Lower case: no NER name could pass the evidence checks, the name list still reports it.
    "my name is rohan gupta and my phone is 9876543210",
    "Hi, I want a refund for order 402-1234567-1234567.",
    "ok thanks",
    "",
    "   ",
]


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_engine(DEFAULT_MODEL)


def _tokens(engine: PiiEngine, text: str) -> list[tuple[int, int]]:
    return [(token.idx, token.idx + len(token)) for token in engine.nlp.make_doc(text)]


def _cucom_sample(conversations: int) -> tuple[list[str], list]:
    texts, contexts = [], []
    with lzma.open(CUCOM, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number == conversations:
                break
            chat = json.loads(line)
            messages = [(turn["role"], turn["content"]) for turn in chat["turns"]]
            texts.extend(text for _, text in messages)
            contexts.extend(message_contexts(messages))
    return texts, contexts


def test_findings_on_committed_support_sample_are_the_same_with_and_without_prefilter(
    engine: PiiEngine,
) -> None:
    texts, contexts = _cucom_sample(40)
    texts += EDGE_TEXTS
    contexts += [contexts[0]] * len(EDGE_TEXTS)
    config = PiiConfig()
    every = engine.analyze_texts(texts, config, contexts=contexts, ner_prefilter=False)
    gated = engine.analyze_texts(texts, config, contexts=contexts, ner_prefilter=True)
    assert gated == every
    # The sample is not trivial: names and identifiers are among its findings.
    kinds = {d.entity_type for found in every for d in found}
    assert {"PERSON", "PHONE_NUMBER"} <= kinds


def test_most_support_messages_are_kept_from_the_ner(engine: PiiEngine) -> None:
    texts, _ = _cucom_sample(40)
    through = sum(may_name_listed_person(text, _tokens(engine, text)) for text in texts)
    assert through < len(texts) * 0.2


def test_listed_names_at_token_boundaries_go_to_the_ner(engine: PiiEngine) -> None:
    for text in EDGE_TEXTS[:9]:
        assert may_name_listed_person(text, _tokens(engine, text)), text


def test_a_name_after_which_the_span_trims_a_possessive_goes_to_the_ner() -> None:
    # One token "Maria's": only the trimmed end (before "'s") makes "Maria" a word.
    assert may_name_listed_person("Maria's", [(0, 7)])
    assert not may_name_listed_person("Mariaxs", [(0, 7)])


def test_texts_without_a_capitalised_listed_name_skip_the_ner(engine: PiiEngine) -> None:
    for text in EDGE_TEXTS[9:]:
        assert not may_name_listed_person(text, _tokens(engine, text)), text
    # Inside a longer word a listed name is no word of a span ("Amazon" holds "Ama").
    assert not may_name_listed_person("Amazon", _tokens(engine, "Amazon"))


def test_ner_types_other_than_person_run_the_ner_on_every_text(engine: PiiEngine) -> None:
    config = PiiConfig(entities=["PERSON", "LOCATION"])
    text = "The parcel is stuck in Mumbai since Monday."
    assert not may_name_listed_person(text, _tokens(engine, text))
    found = engine.analyze_texts([text], config)[0]
    assert ("LOCATION", "Mumbai") in {(d.entity_type, d.text) for d in found}


def test_the_tokenizer_free_check_passes_every_text_the_token_check_passes(
    engine: PiiEngine,
) -> None:
    texts, _ = _cucom_sample(40)
    through = [t for t in texts + EDGE_TEXTS if may_name_listed_person(t, _tokens(engine, t))]
    assert through
    assert all(holds_listed_name(text) for text in through)
    # It is the looser of the two: "Ama" inside "Amazon" is a listed name, but no token.
    assert holds_listed_name("Amazon")
    assert not holds_listed_name("ok thanks, order 12345")
