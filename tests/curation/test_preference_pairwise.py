"""Pairwise review of unranked pairs: side by side in an order drawn per reviewer, leases,
several reviewers, agreement ranks the pair, disagreement goes to adjudication."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import AuditEvent, PairChoice, PairVerdict, PairwiseVerdict, PreferencePair
from curation.services import pairwise
from tests.conftest import DATA
from tests.curation.import_helpers import errors_by_line, import_file
from tests.factories import ConversationFactory, PreferencePairFactory, UserFactory

pytestmark = pytest.mark.django_db


def unranked(dataset, count: int = 1) -> list[PreferencePair]:  # type: ignore[no-untyped-def]
    return [
        PreferencePairFactory(
            conversation=ConversationFactory(dataset=dataset), choice=PairChoice.UNRANKED
        )
        for _ in range(count)
    ]


def second_reviewer(dataset):  # type: ignore[no-untyped-def]
    user = UserFactory(username="bob")
    dataset.memberships.create(user=user, role="reviewer")
    return user


def side_for(pair, reviewer, winner: str) -> str:  # type: ignore[no-untyped-def]
    """The button a reviewer presses to say `winner` (a or b) is better."""
    return "left" if pairwise.left_is_a(pair, reviewer) == (winner == "a") else "right"


def test_two_replies_without_a_choice_import_as_an_unranked_pair(dataset):
    batch = import_file(dataset, DATA / "preference" / "unranked.jsonl")
    assert (batch.imported, batch.invalid) == (2, 1)
    assert set(
        PreferencePair.objects.filter(conversation__batch=batch).values_list("choice", flat=True)
    ) == {PairChoice.UNRANKED}
    assert errors_by_line(batch)[3] == ("responses", "responses must hold two replies, got 1")


def test_agreeing_reviewers_rank_the_pair(dataset, reviewer):
    dataset.reviews_needed = 2
    dataset.save()
    bob = second_reviewer(dataset)
    [pair] = unranked(dataset)
    for person in (reviewer, bob):
        claimed = pairwise.pairwise_claim_next(dataset=dataset, reviewer=person)
        assert claimed == pair
        pairwise.pairwise_submit(pair=claimed, reviewer=person, choice=side_for(pair, person, "b"))
    pair.refresh_from_db()
    assert (pair.choice, pair.verdict_count) == (PairChoice.B, 2)
    assert set(PairwiseVerdict.objects.values_list("verdict", flat=True)) == {PairVerdict.B}
    assert AuditEvent.objects.filter(action="pair.verdict").count() == 2


def test_disagreement_goes_to_adjudication_by_an_admin(dataset, reviewer, admin_user, client_for):
    dataset.reviews_needed = 2
    dataset.save()
    bob = second_reviewer(dataset)
    [pair] = unranked(dataset)
    pairwise.pairwise_submit(pair=pair, reviewer=reviewer, choice=side_for(pair, reviewer, "a"))
    pairwise.pairwise_submit(pair=pair, reviewer=bob, choice="tie")
    pair.refresh_from_db()
    assert pair.choice == PairChoice.CONFLICT
    url = reverse("pairwise_adjudication", args=[dataset.slug])
    assert client_for(reviewer).get(url).status_code == 403
    page = client_for(admin_user).get(url)
    assert f'id="pair-{pair.pk}"' in page.content.decode()
    client_for(admin_user).post(url, {"pair": pair.pk, "choice": "a"})
    pair.refresh_from_db()
    assert pair.choice == PairChoice.A
    assert AuditEvent.objects.filter(action="pair.adjudicate", actor=admin_user).exists()
    assert pairwise.pairwise_overview(dataset)["agreement"] == 0.0


def test_a_leased_pair_is_not_handed_to_another_reviewer_and_skips_are_not_counted(
    dataset, reviewer
):
    bob = second_reviewer(dataset)
    first, second = unranked(dataset, 2)
    assert pairwise.pairwise_claim_next(dataset=dataset, reviewer=reviewer) == first
    assert pairwise.pairwise_claim_next(dataset=dataset, reviewer=bob) == second
    # A reload keeps the same pair.
    assert pairwise.pairwise_claim_next(dataset=dataset, reviewer=reviewer) == first
    pairwise.pairwise_submit(pair=first, reviewer=reviewer, choice="skip")
    first.refresh_from_db()
    assert (first.choice, first.verdict_count, first.leased_to_id) == (PairChoice.UNRANKED, 0, None)
    assert pairwise.pairwise_claim_next(dataset=dataset, reviewer=reviewer) is None
    with pytest.raises(pairwise.PairwiseError, match="already judged"):
        pairwise.pairwise_submit(pair=first, reviewer=reviewer, choice="left")


def test_the_page_shows_both_sides_escaped_and_decides_with_a_plain_form(
    dataset, reviewer, client_for
):
    conversation = ConversationFactory(dataset=dataset)
    pair = PreferencePairFactory(
        conversation=conversation,
        choice=PairChoice.UNRANKED,
        alternative=[{"role": "assistant", "content": "<script>alert(1)</script>"}],
    )
    client = client_for(reviewer)
    html = client.get(reverse("pairwise_next", args=[dataset.slug])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert 'data-key="1"' in html and 'data-key="s"' in html
    response = client.post(
        reverse("pairwise_decide", args=[dataset.slug, pair.pk]),
        {"choice": side_for(pair, reviewer, "b")},
    )
    assert response.status_code == 302
    pair.refresh_from_db()
    assert pair.choice == PairChoice.B


def test_pairwise_pages_need_membership(dataset, outsider, client_for):
    [pair] = unranked(dataset)
    pages = [
        reverse("pairwise_next", args=[dataset.slug]),
        reverse("pairwise_adjudication", args=[dataset.slug]),
    ]
    for url in pages:
        assert client_for(outsider).get(url).status_code in (403, 404)
        assert client_for(None).get(url).status_code == 302
    decide = reverse("pairwise_decide", args=[dataset.slug, pair.pk])
    assert client_for(outsider).post(decide, {"choice": "left"}).status_code in (403, 404)
    pair.refresh_from_db()
    assert pair.verdict_count == 0
