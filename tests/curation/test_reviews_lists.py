"""Lists, search, dashboard, audit log, bulk actions and `manage.py review_bulk`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from curation.models import Adjudication, AuditEvent, Conversation, ConversationStatus, Role
from tests.conftest import ROOT, database_url
from tests.factories import (
    ConversationFactory,
    MembershipFactory,
    PiiFindingFactory,
    ReviewFactory,
    UserFactory,
    chat,
)

pytestmark = pytest.mark.django_db


# -- full-text search -----------------------------------------------------------------------------


def test_search_finds_words_phrases_and_exclusions(dataset):
    refund = ConversationFactory(
        dataset=dataset, original=chat(user="I want a refund for my broken headphones")
    )
    shipping = ConversationFactory(
        dataset=dataset, original=chat(user="When will my parcel be shipped?")
    )
    both = ConversationFactory(
        dataset=dataset, original=chat(user="Refund the shipping costs", assistant="Refunding now.")
    )
    search = Conversation.objects.search
    assert set(search("refund").values_list("id", flat=True)) == {
        refund.pk,
        both.pk,
    }  # stemmed: refunding
    assert set(search("shipped").values_list("id", flat=True)) == {shipping.pk, both.pk}
    assert set(search('"broken headphones"').values_list("id", flat=True)) == {refund.pk}
    assert set(search("refund -headphones").values_list("id", flat=True)) == {both.pk}


def test_search_uses_the_gin_index(dataset):
    ConversationFactory(dataset=dataset, original=chat(user="needle in a haystack"))
    sql, params = Conversation.objects.search("needle").values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        # Only what the search condition can use: on a table of a row or two, walking the
        # primary key (the list's id order) is rightly cheaper, and which one the planner takes
        # then depends on table statistics that other tests' ANALYZE leaves behind.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "conversation_search" in plan, plan


def test_list_filters_sort_and_paginate(client_for, dataset, reviewer, admin_user):
    client = client_for(reviewer)
    url = reverse("conversation_list", args=[dataset.slug])
    ConversationFactory(
        dataset=dataset, original=chat(user="low scored one"), score_avg=1.5, quality_score=0.3
    )
    high = ConversationFactory(
        dataset=dataset, original=chat(user="high scored one"), score_avg=4.5, quality_score=0.9
    )
    clustered = ConversationFactory(
        dataset=dataset, original=chat(user="clustered one"), near_dup_cluster=99
    )
    ReviewFactory(conversation=high, reviewer=admin_user)
    page = client.get(url, {"score_min": "4"}).content.decode()
    assert "high scored one" in page and "low scored one" not in page
    page = client.get(url, {"score_max": "2"}).content.decode()
    assert "low scored one" in page and "high scored one" not in page
    page = client.get(url, {"reviewer": "admin"}).content.decode()
    assert "high scored one" in page and "low scored one" not in page
    page = client.get(url, {"cluster": "99"}).content.decode()
    assert "clustered one" in page and "high scored one" not in page
    page = client.get(url, {"q": "scored"}).content.decode()
    assert "high scored one" in page and "clustered one" not in page
    page = client.get(url, {"sort": "-quality"}).content.decode()
    assert (
        page.index("high scored one") < page.index("low scored one") < page.index("clustered one")
    )
    assert clustered.quality_score is None  # unscored rows sort last


def test_sorted_keyset_pages_do_not_repeat_or_skip(client_for, dataset, reviewer):
    rows = [
        ConversationFactory(dataset=dataset, quality_score=round(0.01 * (n % 7), 2))
        for n in range(120)
    ]
    client = client_for(reviewer)
    url = reverse("conversation_list", args=[dataset.slug])
    seen: list[int] = []
    params = {"sort": "quality"}
    for _ in range(5):
        response = client.get(url, params)
        seen.extend(c.pk for c in response.context["page"])
        if not response.context["next_cursor"]:
            break
        params = {"sort": "quality", "cursor": response.context["next_cursor"]}
    assert sorted(seen) == sorted(row.pk for row in rows) and len(seen) == len(set(seen))
    scores = [Conversation.objects.get(pk=pk).quality_score for pk in seen]
    assert scores == sorted(scores)


# -- dashboard and audit --------------------------------------------------------------------------


def test_dashboard_shows_progress_charts_pii_and_agreement(
    client_for, dataset, reviewer, admin_user
):
    ConversationFactory(dataset=dataset, status=ConversationStatus.APPROVED, token_count=300)
    ConversationFactory(dataset=dataset, status=ConversationStatus.REJECTED, token_count=5000)
    pending = ConversationFactory(dataset=dataset, token_count=100)
    PiiFindingFactory(conversation=pending, entity_type="EMAIL_ADDRESS")
    PiiFindingFactory(conversation=pending, entity_type="EMAIL_ADDRESS", start=6, end=9)
    for conversation in [ConversationFactory(dataset=dataset, review_count=2) for _ in range(3)]:
        for user in (reviewer, admin_user):
            ReviewFactory(
                conversation=conversation,
                reviewer=user,
                scores={"helpfulness": 5, "accuracy": 4, "tone": 2},
            )
    ReviewFactory(
        conversation=ConversationFactory(dataset=dataset, review_count=2),
        reviewer=reviewer,
        scores={"helpfulness": 1},
    )
    response = client_for(reviewer).get(reverse("dataset_detail", args=[dataset.slug]))
    content = response.content.decode()
    assert (
        response.context["progress"]["decided"] == 2
        and response.context["progress"]["reviewable"] == 7
    )
    assert '<progress value="29" max="100"' in content
    scores = response.context["chart_scores"]
    assert scores["datasets"][0]["label"] == "Helpfulness" and scores["datasets"][0]["data"] == [
        1,
        0,
        0,
        0,
        6,
    ]
    tokens = dict(
        zip(
            response.context["chart_tokens"]["labels"],
            response.context["chart_tokens"]["datasets"][0]["data"],
            strict=True,
        )
    )
    assert tokens["<128"] == 5 and tokens["<512"] == 1 and tokens["<8k"] == 1
    assert (
        'id="chart-scores" type="application/json"' in content
        and "chart-4.6.1.umd.min.js" in content
    )
    assert response.context["pii_counts"] == [{"entity_type": "EMAIL_ADDRESS", "count": 2}]
    # Every paired tone score is 2: no variation, so alpha is undefined (shown as a dash).
    agreement = {c["key"]: c["alpha"] for c in response.context["agreement"]["criteria"]}
    assert response.context["agreement"]["units"] == 4
    assert agreement["tone"] is None


def test_dashboard_agreement_number(client_for, dataset, reviewer, admin_user):
    # Two reviewers, four conversations, helpfulness 1,2,3,4 vs 1,2,3,5: high but not perfect.
    for mine, theirs in ((1, 1), (2, 2), (3, 3), (4, 5)):
        conversation = ConversationFactory(dataset=dataset, review_count=2)
        ReviewFactory(conversation=conversation, reviewer=reviewer, scores={"helpfulness": mine})
        ReviewFactory(
            conversation=conversation, reviewer=admin_user, scores={"helpfulness": theirs}
        )
    from curation.agreement import krippendorff_alpha

    expected = krippendorff_alpha([[1, 1], [2, 2], [3, 3], [4, 5]], level="ordinal")
    response = client_for(reviewer).get(reverse("dataset_detail", args=[dataset.slug]))
    alpha = response.context["agreement"]["criteria"][0]["alpha"]
    assert alpha == pytest.approx(expected) and 0.8 < alpha < 1
    assert f"{alpha:.3f}" in response.content.decode()


def test_audit_log_filters_and_paginates(client_for, dataset, admin_user, reviewer):
    for n in range(60):
        AuditEvent.record(
            actor=reviewer if n % 2 else admin_user,
            action="review.submit" if n % 3 else "conversation.edit",
            dataset=dataset,
            n=n,
        )
    client = client_for(admin_user)
    url = reverse("audit_log", args=[dataset.slug])
    first = client.get(url)
    assert len(first.context["page"]) == 50 and first.context["page"].next_after
    second = client.get(url, {"after": first.context["page"].next_after})
    assert len(second.context["page"]) == 10
    edits = client.get(url, {"action": "conversation.edit"})
    assert {e.action for e in edits.context["page"]} == {"conversation.edit"} and len(
        edits.context["page"]
    ) == 20
    mine = client.get(url, {"user": "reviewer"})
    assert {e.actor for e in mine.context["page"]} == {reviewer}


# -- bulk actions ------------------------------------------------------------------------------


def test_bulk_confirmation_shows_the_count_then_decides(client_for, dataset, admin_user):
    passing = [ConversationFactory(dataset=dataset) for _ in range(3)]
    blocked = ConversationFactory(dataset=dataset, flags=["degenerate_repetition"])
    done = ConversationFactory(dataset=dataset, status=ConversationStatus.REJECTED)
    ConversationFactory(dataset=dataset, status=ConversationStatus.PENDING_PII)
    conflict = passing[0]
    Adjudication.objects.create(conversation=conflict, dataset=dataset)
    client = client_for(admin_user)
    url = reverse("review_bulk", args=[dataset.slug])
    confirm = client.get(url, {"flag": "passing"})
    assert confirm.context["count"] == 3
    assert 'name="flag" value="passing"' in confirm.content.decode()
    response = client.post(url, {"flag": "passing", "decision": "approve"})
    assert response.status_code == 302
    statuses = dict(Conversation.objects.values_list("id", "status"))
    assert all(statuses[c.pk] == ConversationStatus.APPROVED for c in passing)
    assert statuses[blocked.pk] == ConversationStatus.IN_REVIEW
    assert statuses[done.pk] == ConversationStatus.REJECTED
    assert Adjudication.objects.get(conversation=conflict).status == "resolved"
    event = AuditEvent.objects.get(action="review.bulk_approve")
    assert event.actor == admin_user and event.details == {
        "count": 3,
        "filter": "Problems: Passing (no blocking flag)",
    }


def test_review_bulk_command_json_contract(dataset, admin_user):
    passing = [ConversationFactory(dataset=dataset) for _ in range(2)]
    blocked = ConversationFactory(dataset=dataset, flags=["over_token_limit"])
    out = StringIO()
    call_command(
        "review_bulk", "--dataset", dataset.slug, "--approve", "--as", "admin", "--json", stdout=out
    )
    assert json.loads(out.getvalue().strip().splitlines()[-1]) == {"approved": 2, "rejected": 0}
    assert all(Conversation.objects.get(pk=c.pk).status == "approved" for c in passing)
    out = StringIO()
    call_command(
        "review_bulk", "--dataset", dataset.slug, "--reject", "--where", "all", "--json", stdout=out
    )
    assert json.loads(out.getvalue().strip().splitlines()[-1]) == {"approved": 0, "rejected": 1}
    assert Conversation.objects.get(pk=blocked.pk).status == "rejected"
    assert AuditEvent.objects.filter(action="review.bulk_approve", actor=admin_user).exists()


def test_review_bulk_command_failures(dataset, reviewer):
    UserFactory(username="stranger")
    MembershipFactory(dataset=dataset, user=UserFactory(username="helper"), role=Role.REVIEWER)
    with pytest.raises(CommandError, match="no dataset 'nope'"):
        call_command("review_bulk", "--dataset", "nope", "--approve")
    with pytest.raises(CommandError, match="not an admin"):
        call_command("review_bulk", "--dataset", dataset.slug, "--approve", "--as", "helper")
    with pytest.raises(CommandError, match="no active user"):
        call_command("review_bulk", "--dataset", dataset.slug, "--approve", "--as", "ghost")
    with pytest.raises(CommandError):
        call_command("review_bulk", "--dataset", dataset.slug, "--approve", "--reject")


def test_review_bulk_command_exits_non_zero_with_one_line(dataset):
    import subprocess
    import sys

    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DEBUG": "true",
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": database_url(),
    }
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "review_bulk",
            "--dataset",
            "missing",
            "--approve",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["CommandError: no dataset 'missing'"]
