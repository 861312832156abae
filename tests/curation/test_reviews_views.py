"""Review pages: who may see them, and what they do with and without htmx."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from curation.models import (
    Adjudication,
    AuditEvent,
    Conversation,
    ConversationRevision,
    ConversationStatus,
    Review,
    ReviewSkip,
)
from tests.factories import ConversationFactory, PiiFindingFactory, ReviewFactory, chat
from tests.helpers import ALL, as_user, assert_admin_actions, assert_page_access

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
FULL = {"score_helpfulness": "4", "score_accuracy": "5", "score_tone": "3"}


def review_pages(dataset):  # type: ignore[no-untyped-def]
    conversation = ConversationFactory(dataset=dataset)
    conflict = ConversationFactory(dataset=dataset)
    Adjudication.objects.create(conversation=conflict, dataset=dataset)
    slug = dataset.slug
    return {
        "review_start": (reverse("review_start", args=[slug]), {"admin", "reviewer"}),
        "review_conversation": (
            reverse("review_conversation", args=[slug, conversation.pk]),
            {"admin", "reviewer"},
        ),
        "review_edit": (
            reverse("review_edit", args=[slug, conversation.pk, 2]),
            {"admin", "reviewer"},
        ),
        "review_previous": (
            reverse("review_previous", args=[slug, conversation.pk]),
            {"admin", "reviewer"},
        ),
        "review_next": (
            reverse("review_next", args=[slug, conversation.pk]),
            {"admin", "reviewer"},
        ),
        "review_clusters": (reverse("review_clusters", args=[slug]), {"admin", "reviewer"}),
        "adjudication_list": (reverse("adjudication_list", args=[slug]), {"admin"}),
        "adjudication_detail": (
            reverse("adjudication_detail", args=[slug, conflict.pk]),
            {"admin"},
        ),
        "review_stats": (reverse("review_stats", args=[slug]), {"admin"}),
        "review_bulk": (reverse("review_bulk", args=[slug]), {"admin"}),
        "audit_log": (reverse("audit_log", args=[slug]), {"admin"}),
    }


@pytest.mark.parametrize("who", ALL)
def test_review_pages_permissions(
    request, who, dataset, admin_user, reviewer, outsider, client_for
):
    client = client_for(as_user(request, who))
    # Some review pages send an allowed visitor on with a redirect rather than render.
    assert_page_access(client, who, review_pages(dataset), ok=(200, 302))


@pytest.mark.parametrize("who", ALL)
def test_review_post_actions_permissions(
    request, who, dataset, admin_user, reviewer, outsider, client_for
):
    client = client_for(as_user(request, who))
    cluster_member = ConversationFactory(dataset=dataset, near_dup_cluster=10**6)
    actions = {
        "review_keep_one": (
            reverse("review_keep_one", args=[dataset.slug, 10**6]),
            {"keep": cluster_member.pk},
        ),
        "review_bulk": (
            reverse("review_bulk", args=[dataset.slug]),
            {"decision": "reject", "status": "in_review"},
        ),
    }
    assert_admin_actions(client, who, actions)
    conversation = ConversationFactory(dataset=dataset)
    response = client.post(
        reverse("review_conversation", args=[dataset.slug, conversation.pk]), {"action": "skip"}
    )
    assert (
        response.status_code
        == {"anonymous": 302, "outsider": 404, "reviewer": 302, "admin": 302}[who]
    )
    assert ReviewSkip.objects.filter(conversation=conversation).exists() == (
        who in {"admin", "reviewer"}
    )


def test_start_redirects_to_the_next_conversation_and_shows_it(client_for, dataset, reviewer):
    conversation = ConversationFactory(dataset=dataset, original=chat(user="Where is my parcel?"))
    client = client_for(reviewer)
    response = client.get(reverse("review_start", args=[dataset.slug]))
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "review_conversation", args=[dataset.slug, conversation.pk]
    )
    page = client.get(response["Location"])
    content = page.content.decode()
    assert "Where is my parcel?" in content
    for criterion in dataset.criteria:
        assert criterion["name"] in content and escape(criterion["description"]) in content
    assert 'name="score_helpfulness" value="5"' in content
    assert "Approve" in content and "Reject" in content and "Skip" in content


def test_empty_queue_says_so(client_for, dataset, reviewer):
    response = client_for(reviewer).get(reverse("review_start", args=[dataset.slug]))
    assert response.status_code == 200
    assert b"Nothing left for you to review" in response.content


def test_plain_form_approve_then_next(client_for, dataset, reviewer):
    first, second = ConversationFactory(dataset=dataset), ConversationFactory(dataset=dataset)
    client = client_for(reviewer)
    client.get(reverse("review_start", args=[dataset.slug]))
    response = client.post(
        reverse("review_conversation", args=[dataset.slug, first.pk]),
        {"action": "approve", "comment": "good", "opened_at": "0", **FULL},
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "review_start", args=[dataset.slug]
    )
    first.refresh_from_db()
    assert first.status == ConversationStatus.APPROVED
    review = Review.objects.get(conversation=first)
    assert review.comment == "good" and review.scores == {
        "helpfulness": 4,
        "accuracy": 5,
        "tone": 3,
    }
    assert client.get(response["Location"])["Location"].endswith(f"/review/{second.pk}/")


def test_htmx_decision_returns_the_next_panel(client_for, dataset, reviewer):
    first = ConversationFactory(dataset=dataset)
    second = ConversationFactory(dataset=dataset, original=chat(user="Second question here"))
    client = client_for(reviewer)
    response = client.post(
        reverse("review_conversation", args=[dataset.slug, first.pk]),
        {"action": "reject", "elapsed_ms": "4200"},
        **HTMX,
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="review-panel"')
    assert "<html" not in content and "Second question here" in content
    assert response["HX-Push-Url"] == reverse("review_conversation", args=[dataset.slug, second.pk])
    assert Review.objects.get(conversation=first).seconds == pytest.approx(4.2)


def test_htmx_decision_after_prefetch_answers_204(client_for, dataset, reviewer):
    first, second = ConversationFactory(dataset=dataset), ConversationFactory(dataset=dataset)
    client = client_for(reviewer)
    client.get(reverse("review_conversation", args=[dataset.slug, first.pk]))
    prefetch = client.get(
        f"{reverse('review_start', args=[dataset.slug])}?exclude={first.pk}", **HTMX
    )
    assert (
        prefetch.status_code == 200
        and f'data-conversation="{second.pk}"' in prefetch.content.decode()
    )
    assert set(Conversation.objects.filter(leased_to=reviewer).values_list("id", flat=True)) == {
        first.pk,
        second.pk,
    }
    response = client.post(
        reverse("review_conversation", args=[dataset.slug, first.pk]),
        {"action": "approve", **FULL},
        HTTP_X_CURATOR_PREFETCHED="1",
        **HTMX,
    )
    assert response.status_code == 204
    assert Conversation.objects.get(pk=first.pk).status == ConversationStatus.APPROVED
    nothing = client.get(
        f"{reverse('review_start', args=[dataset.slug])}?exclude={second.pk}", **HTMX
    )
    assert nothing.status_code == 204


def test_invalid_decision_shows_the_same_conversation_with_the_reason(
    client_for, dataset, reviewer
):
    conversation = ConversationFactory(dataset=dataset)
    response = client_for(reviewer).post(
        reverse("review_conversation", args=[dataset.slug, conversation.pk]),
        {"action": "approve", "score_tone": "2"},
        HTTP_X_CURATOR_PREFETCHED="1",
        **HTMX,
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "Score every criterion" in content
    assert f'data-conversation="{conversation.pk}"' in content
    assert 'value="2" checked' in content  # what was chosen is kept
    assert not Review.objects.exists()


def test_another_reviewers_conversation_is_read_only(client_for, dataset, reviewer, admin_user):
    conversation = ConversationFactory(dataset=dataset)
    client_for(admin_user).get(reverse("review_conversation", args=[dataset.slug, conversation.pk]))
    response = client_for(reviewer).get(
        reverse("review_conversation", args=[dataset.slug, conversation.pk])
    )
    content = response.content.decode()
    assert "Another reviewer is working on this conversation" in content
    assert 'id="review-form"' not in content


def test_pii_is_highlighted_and_the_redacted_view_hides_it(client_for, dataset, reviewer):
    conversation = ConversationFactory(
        dataset=dataset,
        original=chat(user="My name is Maria Lopez, call me."),
    )
    PiiFindingFactory(
        conversation=conversation,
        message_index=1,
        start=11,
        end=22,
        entity_type="PERSON",
        score=0.85,
    )
    client = client_for(reviewer)
    url = reverse("review_conversation", args=[dataset.slug, conversation.pk])
    content = client.get(url).content.decode()
    # The highlight is a keep/redact control (partials/pii_mark.html); the text stays escaped.
    assert '<mark class="pii pii-redact"' in content and 'data-entity="PERSON"' in content
    assert 'data-label="PERSON">Maria Lopez</button>' in content
    redacted = client.get(f"{url}?fragment=chat&view=redacted", **HTMX).content.decode()
    assert "Maria Lopez" not in redacted
    assert 'id="review-chat"' in redacted and "<html" not in redacted


def test_inline_edit_with_htmx_returns_the_chat_with_a_diff(client_for, dataset, reviewer):
    conversation = ConversationFactory(dataset=dataset, original=chat(assistant="Old <b>reply</b>"))
    client = client_for(reviewer)
    url = reverse("review_edit", args=[dataset.slug, conversation.pk, 2])
    form = client.get(url, **HTMX).content.decode()
    assert "<textarea" in form and "Old &lt;b&gt;reply&lt;/b&gt;" in form
    response = client.post(url, {"text": "New <i>reply</i> that is longer"}, **HTMX)
    content = response.content.decode()
    assert response.status_code == 200 and 'id="review-chat"' in content
    assert "New &lt;i&gt;reply&lt;/i&gt; that is longer" in content and "<i>reply" not in content
    # The diff is per word, escaped: the removed and added words, the rest kept as it was.
    assert '<span class="diff-del">Old</span><span class="diff-add">New</span>' in content
    assert '<span class="diff-same">&gt;reply&lt;/</span>' in content
    assert 'id="review-facts" class="review-facts" hx-swap-oob="true"' in content
    assert ConversationRevision.objects.get(conversation=conversation).before == "Old <b>reply</b>"


def test_edit_of_a_user_message_is_404_and_an_empty_edit_is_refused(client_for, dataset, reviewer):
    conversation = ConversationFactory(dataset=dataset)
    client = client_for(reviewer)
    assert (
        client.get(reverse("review_edit", args=[dataset.slug, conversation.pk, 1])).status_code
        == 404
    )
    response = client.post(
        reverse("review_edit", args=[dataset.slug, conversation.pk, 2]), {"text": " "}, **HTMX
    )
    assert b"cannot be empty" in response.content and response["HX-Retarget"] == "#msg-2"


def test_reviewer_cannot_edit_a_decided_conversation_but_an_admin_can(
    client_for, dataset, reviewer, admin_user
):
    conversation = ConversationFactory(dataset=dataset, status=ConversationStatus.APPROVED)
    url = reverse("review_edit", args=[dataset.slug, conversation.pk, 2])
    assert client_for(reviewer).post(url, {"text": "changed"}).status_code == 403
    assert client_for(admin_user).post(url, {"text": "changed by admin"}).status_code == 302
    assert (
        Conversation.objects.get(pk=conversation.pk).current_messages()[2]["content"]
        == "changed by admin"
    )


def test_adjudication_list_and_decision(client_for, dataset, admin_user):
    conversation = ConversationFactory(
        dataset=dataset, original=chat(user="Disputed question"), review_count=2
    )
    ReviewFactory(conversation=conversation, decision="approve")
    ReviewFactory(conversation=conversation, decision="reject", comment="Wrong <script>x</script>")
    Adjudication.objects.create(conversation=conversation, dataset=dataset)
    client = client_for(admin_user)
    listing = client.get(reverse("adjudication_list", args=[dataset.slug])).content.decode()
    assert "Disputed question" in listing
    detail = client.get(
        reverse("adjudication_detail", args=[dataset.slug, conversation.pk])
    ).content.decode()
    assert "Wrong &lt;script&gt;x&lt;/script&gt;" in detail
    response = client.post(
        reverse("adjudication_detail", args=[dataset.slug, conversation.pk]),
        {"decision": "approve", "comment": "fine"},
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.APPROVED
    assert Adjudication.objects.get(conversation=conversation).resolved_by == admin_user


def test_keep_one_rejects_the_rest_of_the_cluster(client_for, dataset, admin_user):
    keep, other, third = (
        ConversationFactory(dataset=dataset, near_dup_cluster=7) for _ in range(3)
    )
    outside = ConversationFactory(dataset=dataset)
    page = (
        client_for(admin_user).get(reverse("review_clusters", args=[dataset.slug])).content.decode()
    )
    assert "Cluster 7" in page and "Keep this one" in page
    client_for(admin_user).post(
        reverse("review_keep_one", args=[dataset.slug, 7]), {"keep": keep.pk}
    )
    statuses = dict(Conversation.objects.values_list("id", "status"))
    assert statuses[keep.pk] == ConversationStatus.IN_REVIEW
    assert statuses[other.pk] == statuses[third.pk] == ConversationStatus.REJECTED
    assert statuses[outside.pk] == ConversationStatus.IN_REVIEW
    event = AuditEvent.objects.get(action="duplicates.keep_one")
    assert sorted(event.details["rejected"]) == sorted([other.pk, third.pk])


def test_stats_page_shows_agreement_and_reviewer_numbers(client_for, dataset, admin_user, reviewer):
    conversations = [ConversationFactory(dataset=dataset, review_count=2) for _ in range(4)]
    for n, conversation in enumerate(conversations):
        ReviewFactory(
            conversation=conversation,
            reviewer=reviewer,
            decision="approve",
            seconds=10 + n,
            scores={"helpfulness": 1 + n, "accuracy": 3, "tone": 3},
        )
        ReviewFactory(
            conversation=conversation,
            reviewer=admin_user,
            decision="approve" if n else "reject",
            scores={"helpfulness": 1 + n, "accuracy": 3, "tone": 3},
        )
    content = (
        client_for(admin_user).get(reverse("review_stats", args=[dataset.slug])).content.decode()
    )
    # Helpfulness is scored identically by both: alpha 1. Median of 10..13 seconds is 11.5.
    assert '<td>Helpfulness</td><td class="num">1.000</td>' in content
    assert "12 s" in content
    assert "75%" in content  # reviewer agrees on 3 of 4 decisions


def test_history_steps_are_worked_out_when_asked(client_for, dataset, reviewer):
    first, second, third = (ConversationFactory(dataset=dataset) for _ in range(3))
    for conversation in (first, second):
        ReviewFactory(conversation=conversation, reviewer=reviewer)
    client = client_for(reviewer)
    back = client.get(reverse("review_previous", args=[dataset.slug, third.pk]), **HTMX)
    assert f'data-conversation="{second.pk}"' in back.content.decode()
    assert back["HX-Push-Url"] == reverse("review_conversation", args=[dataset.slug, second.pk])
    forward = client.get(reverse("review_next", args=[dataset.slug, first.pk]))
    assert forward["Location"] == reverse("review_conversation", args=[dataset.slug, second.pk])
    # Past the newest review, "next" is the queue; before the oldest, "previous" stays put.
    queue = client.get(reverse("review_next", args=[dataset.slug, second.pk]), **HTMX)
    assert f'data-conversation="{third.pk}"' in queue.content.decode()
    assert (
        client.get(reverse("review_previous", args=[dataset.slug, first.pk]), **HTMX).status_code
        == 204
    )
