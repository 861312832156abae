"""Odd query input (NUL characters, non-ASCII digits, huge numbers) answers 2xx/3xx/400/404, never 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.params import parse_float, parse_int, parse_ints, parse_text
from tests.factories import ConversationFactory, built_version

pytestmark = pytest.mark.django_db

HUGE = "9" * 5000
ODD_VALUES = ["\x00", "a\x00b", "²", "١٢", HUGE, "99999999999999999999", "-1", "1e400", "nan", " "]
PARAMETERS = [
    "q",
    "batch",
    "cluster",
    "status",
    "flag",
    "reviewer",
    "score_min",
    "score_max",
    "quality_min",
    "quality_max",
    "sort",
    "page",
    "after",
    "before",
    "cursor",
    "exclude",
    "action",
    "user",
    "show",
    "view",
    "fragment",
]


@pytest.fixture
def pages(dataset, admin_user):  # type: ignore[no-untyped-def]
    conversation = ConversationFactory(dataset=dataset)
    version = built_version(dataset)
    slug = dataset.slug
    return [
        reverse("dataset_list"),
        reverse("dataset_detail", args=[slug]),
        reverse("dataset_members", args=[slug]),
        reverse("import_list", args=[slug]),
        reverse("conversation_list", args=[slug]),
        reverse("conversation_detail", args=[slug, conversation.pk]),
        reverse("conversation_chat", args=[slug, conversation.pk]),
        reverse("pii_overview", args=[slug]),
        reverse("review_start", args=[slug]),
        reverse("adjudication_list", args=[slug]),
        reverse("review_stats", args=[slug]),
        reverse("review_clusters", args=[slug]),
        reverse("review_bulk", args=[slug]),
        reverse("audit_log", args=[slug]),
        reverse("version_list", args=[slug]),
        reverse("version_detail", args=[slug, version.number]),
        reverse("token_list"),
        reverse("training_jobs"),
        reverse("finetune_list", args=[slug]),
    ]


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_list_views_never_answer_500_to_odd_query_values(
    value, pages, admin_user, client_for, settings
):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    client = client_for(admin_user)
    client.raise_request_exception = False
    # Every parameter at once: each view parses all it knows before answering.
    query = {name: value for name in PARAMETERS}
    for url in pages:
        response = client.get(url, query)
        assert response.status_code in {200, 204, 302, 400, 404}, (url, value)


def test_odd_post_values_on_the_duplicates_page_answer_404(dataset, admin_user, client_for):
    client = client_for(admin_user)
    client.raise_request_exception = False
    url = reverse("review_keep_one", args=[dataset.slug, 1])
    for value in ("²", HUGE, "\x00"):
        response = client.post(url, {"keep": value, "page": value})
        assert response.status_code == 404, value


def test_huge_ids_in_the_path_answer_404(dataset, admin_user, client_for):
    client = client_for(admin_user)
    client.raise_request_exception = False
    for name in ("import_detail", "conversation_detail", "review_conversation"):
        response = client.get(reverse(name, args=[dataset.slug, int("9" * 30)]))
        assert response.status_code == 404, name


def test_the_parsing_helpers():
    assert parse_int("42") == 42 and parse_int(" 42 ") is None
    assert parse_int("²") is None and parse_int("١٢") is None and parse_int(HUGE) is None
    assert parse_int("9223372036854775807") == 2**63 - 1
    assert parse_int("9223372036854775808") is None and parse_int(None) is None
    assert parse_ints(["1", "²", "3", HUGE, "4"], limit=2) == [1, 3]
    assert parse_float("0.5") == 0.5 and parse_float("nan") is None and parse_float("1e400") is None
    assert parse_float(HUGE) is None and parse_float("x") is None
    assert parse_text(" a\x00b ", max_length=10) == "ab" and parse_text(None, max_length=3) == ""
    assert parse_text("abcdef", max_length=3) == "abc"
