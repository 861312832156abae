"""Redaction removes personal data and nothing else, measured on the project's labelled set.

The thresholds are the product's targets (issue 11): at most 3 false redactions per 100
ordinary messages with a new dataset's settings, while planted structured ids are all found,
names at least 95 % and street addresses at least 90 %.
"""

from __future__ import annotations

import pytest

from curation.models import Dataset
from curation.pii.analyzer import PiiEngine
from curation.pii.engine import PiiConfig, get_engine
from curation.pii.evidence import notable_names
from curation.pii.policy import DEFAULT_ENTITIES
from tests.pii_labelled import Score, score


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_engine()


def dataset_defaults() -> PiiConfig:
    dataset = Dataset()
    return PiiConfig(entities=list(dataset.pii_entities), threshold=dataset.pii_threshold)


@pytest.fixture(scope="module")
def measured(engine: PiiEngine) -> Score:
    config = dataset_defaults()
    return score(
        lambda texts: [
            [(d.start, d.end) for d in found] for found in engine.analyze_texts(texts, config)
        ]
    )


def test_the_labelled_set_is_a_few_hundred_messages(measured: Score) -> None:
    assert measured.messages >= 300
    assert sum(measured.planted.values()) >= 120


def test_ordinary_messages_lose_at_most_three_words_per_hundred(measured: Score) -> None:
    assert measured.false_per_100 <= 3.0, measured.false_examples


def test_planted_structured_identifiers_are_all_found(measured: Score) -> None:
    assert measured.recall("STRUCTURED") == 1.0, measured.missed


def test_planted_names_are_found(measured: Score) -> None:
    assert measured.recall("PERSON") >= 0.95, measured.missed


def test_planted_street_addresses_and_postal_codes_are_found(measured: Score) -> None:
    assert measured.recall("STREET_ADDRESS") >= 0.90, measured.missed
    assert measured.recall("ZIP_CODE") >= 0.90, measured.missed


def test_new_datasets_follow_the_policy() -> None:
    entities = set(Dataset().pii_entities)

    assert entities == set(DEFAULT_ENTITIES)
    assert {"STREET_ADDRESS", "ZIP_CODE", "ACCOUNT_ID", "DATE_OF_BIRTH"} <= entities
    assert not {"LOCATION", "NRP", "AGE", "URL", "ORGANIZATION", "DATE_TIME"} & entities


def found(engine: PiiEngine, text: str, config: PiiConfig | None = None) -> set[str]:
    return {d.text for d in engine.analyze_texts([text], config or dataset_defaults())[0]}


@pytest.mark.parametrize(
    "text",
    [
        "In Python, `if flag is True:` is discouraged; compare with None using `is`.",
        "Chicken and Bell Pepper Stir Fry: cook the chicken, then add the peppers.",
        "Convert 250 EUR to USD and explain the fee.",
        "I posted it on Twitter, Facebook and Instagram.",
        "Book a flight to Paris for me in May.",
        "Summarize the fall of the Roman Empire.",
        "Who was Abraham Lincoln and what did Marie Curie discover?",
        "Explain L1 regularization.",
        "CREATE TABLE t (id Integer, name Varchar(80));",
        "Preheat the oven. Bake for 20 minutes, then Cook the sauce.",
    ],
)
def test_ordinary_words_places_brands_and_public_figures_stay(engine: PiiEngine, text: str) -> None:
    assert found(engine, text) == set()


def test_names_inside_code_are_code_but_emails_there_are_still_found(engine: PiiEngine) -> None:
    text = (
        "Please review this:\n"
        "```python\nauthor = 'Priya Raman'\nsend('priya.raman@example.com')\n```\n"
        "and `Maria Gonzalez` is a test fixture."
    )

    detected = {
        (d.text, d.entity_type) for d in engine.analyze_texts([text], dataset_defaults())[0]
    }

    assert detected == {("priya.raman@example.com", "EMAIL_ADDRESS")}


def test_locations_can_be_switched_on(engine: PiiEngine) -> None:
    config = PiiConfig(entities=["PERSON", "LOCATION"])

    assert "Lisbon" in found(engine, "I grew up in Lisbon and moved last year.", config)
    assert found(engine, "I grew up in Lisbon and moved last year.") == set()


def test_private_people_in_letters_and_personal_stories_are_found(engine: PiiEngine) -> None:
    assert found(engine, "Yesterday Kevin O'Brien from accounting told me it was wrong.") == {
        "Kevin O'Brien"
    }
    assert found(engine, "Cheers,\nIngrid Johansson") == {"Ingrid Johansson"}
    assert found(engine, "Customer name: Yuki Tanaka") == {"Yuki Tanaka"}


def test_account_ids_and_birth_dates_need_their_label(engine: PiiEngine) -> None:
    assert found(engine, "My customer ID is CUST-0048213.") == {"CUST-0048213"}
    assert found(engine, "Date of birth: 14/03/1987") == {"14/03/1987"}
    assert found(engine, "The meeting is on 14/03/2027, aisle 0048213.") == set()


@pytest.mark.parametrize(
    "text",
    [
        "Write a short essay on how Atticus Finch shows courage in To Kill a Mockingbird.",
        "Who wrote To Kill a Mockingbird? I think it was Harper Lee.",
        "Compare Harry Potter and Hermione Granger as leaders in the second book.",
        "I met Barack Obama once at a rally in Chicago.",
    ],
)
def test_public_figures_and_fictional_characters_from_the_notable_list_stay(
    engine: PiiEngine, text: str
) -> None:
    assert engine.analyze_texts([text], PiiConfig())[0] == []


@pytest.mark.parametrize(
    "text",
    [
        "I met Emmanuel Macron once at a rally in Paris.",
        "I met Kamala Harris at my cousin's graduation.",
    ],
)
def test_public_figures_famous_since_2014_stay(engine: PiiEngine, text: str) -> None:
    assert engine.analyze_texts([text], PiiConfig())[0] == []


def test_a_private_name_beside_a_public_figure_is_still_redacted(engine: PiiEngine) -> None:
    found = engine.analyze_texts(["I met Barack Obama with my friend Priya Raman."], PiiConfig())[0]

    assert [d.text for d in found] == ["Priya Raman"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi, my name is Harper Lee and my order is late.", "Harper Lee"),
        ("Hi, my name is Kamala Harris and my parcel never arrived.", "Kamala Harris"),
    ],
)
def test_a_self_introduction_is_redacted_even_with_a_notable_name(
    engine: PiiEngine, text: str, name: str
) -> None:
    found = engine.analyze_texts([text], PiiConfig())

    assert [d.text for d in found[0]] == [name]


def test_the_notable_list_holds_full_names_of_both_kinds() -> None:
    public, fictional = notable_names()

    assert {"harper lee", "abraham lincoln"} <= public
    assert {"emmanuel macron", "jacinda ardern", "volodymyr zelensky"} <= public
    assert {"atticus finch", "harry potter"} <= fictional
    assert not any(len(name.split()) < 2 for name in public | fictional)
