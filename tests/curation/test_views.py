"""Every page: who may see it (admin, reviewer, outsider, anonymous) and what it does."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from curation.models import AuditEvent, Dataset, ImportBatch, JobStatus, Membership, Role
from tests.factories import ConversationFactory, ImportBatchFactory, UserFactory
from tests.helpers import ALL, as_user, assert_admin_actions, assert_page_access

pytestmark = pytest.mark.django_db


def pages(dataset):  # type: ignore[no-untyped-def]
    batch = ImportBatchFactory(dataset=dataset)
    conversation = ConversationFactory(dataset=dataset)
    return {
        "dataset_detail": (reverse("dataset_detail", args=[dataset.slug]), {"admin", "reviewer"}),
        "dataset_settings": (reverse("dataset_settings", args=[dataset.slug]), {"admin"}),
        "dataset_members": (reverse("dataset_members", args=[dataset.slug]), {"admin", "reviewer"}),
        "import_list": (reverse("import_list", args=[dataset.slug]), {"admin", "reviewer"}),
        "import_detail": (
            reverse("import_detail", args=[dataset.slug, batch.pk]),
            {"admin", "reviewer"},
        ),
        "import_errors_csv": (
            reverse("import_errors_csv", args=[dataset.slug, batch.pk]),
            {"admin", "reviewer"},
        ),
        "conversation_list": (
            reverse("conversation_list", args=[dataset.slug]),
            {"admin", "reviewer"},
        ),
        "conversation_detail": (
            reverse("conversation_detail", args=[dataset.slug, conversation.pk]),
            {"admin", "reviewer"},
        ),
    }


@pytest.mark.parametrize("who", ALL)
def test_dataset_pages_permissions(
    request, who, dataset, admin_user, reviewer, outsider, client_for
):
    client = client_for(as_user(request, who))
    assert_page_access(client, who, pages(dataset))


@pytest.mark.parametrize("who", ALL)
def test_post_actions_permissions(
    request, who, dataset, admin_user, reviewer, outsider, client_for
):
    client = client_for(as_user(request, who))
    batch = ImportBatchFactory(dataset=dataset, status=JobStatus.SUCCEEDED)
    member = Membership.objects.get(user=reviewer, dataset=dataset)
    data = {"action": "role", "role": "reviewer"}
    actions = {
        "import_retry": (reverse("import_retry", args=[dataset.slug, batch.pk]), data),
        "member_update": (reverse("member_update", args=[dataset.slug, member.pk]), data),
    }
    assert_admin_actions(client, who, actions)


def test_dataset_list_shows_only_my_datasets(client_for, dataset, reviewer, outsider):
    response = client_for(reviewer).get(reverse("dataset_list"))
    assert response.status_code == 200
    assert b"Support" in response.content
    assert b"elsewhere" not in response.content.lower()


def test_anonymous_is_sent_to_login_everywhere(client):
    for url in (
        reverse("dataset_list"),
        reverse("dataset_create"),
        reverse("admin:django_rq_home"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"], url


def test_create_dataset_makes_me_admin_and_audits(client_for, db):
    user = UserFactory(username="maker", is_staff=True)
    response = client_for(user).post(
        reverse("dataset_create"),
        {"name": "Billing chats", "base_model": "gpt-4.1-mini-2025-04-14"},
    )
    dataset = Dataset.objects.get(slug="billing-chats")
    assert response.status_code == 302 and response["Location"] == dataset.get_absolute_url()
    assert Membership.objects.get(dataset=dataset, user=user).role == Role.ADMIN
    assert AuditEvent.objects.filter(action="dataset.create", dataset=dataset, actor=user).exists()


def test_create_dataset_rejects_a_taken_slug(client_for, dataset, admin_user, settings):
    settings.CURATOR_ANYONE_CAN_CREATE_DATASETS = True
    response = client_for(admin_user).post(
        reverse("dataset_create"),
        {"name": "x", "slug": dataset.slug, "base_model": "gpt-4.1-mini-2025-04-14"},
    )
    assert response.status_code == 200
    assert b"is taken" in response.content


def test_settings_save_rubric_and_reject_bad_rubric(client_for, dataset, admin_user):
    client = client_for(admin_user)
    url = reverse("dataset_settings", args=[dataset.slug])
    data = {
        "name": "Support",
        "description": "",
        "system_prompt": "Be kind.",
        "base_model": "gpt-4.1-2025-04-14",
        "token_limit": 1000,
        "reviews_needed": 2,
        "approval_rule": "majority",
        "rubric": "Correctness: facts are right\nEmpathy: acknowledges feelings",
    }
    assert client.post(url, data).status_code == 302
    dataset.refresh_from_db()
    assert [c["key"] for c in dataset.criteria] == ["correctness", "empathy"]
    assert dataset.reviews_needed == 2 and dataset.approval_rule == "majority"
    bad = client.post(url, {**data, "rubric": "Tone: a\nTone: b"})
    assert bad.status_code == 200 and b"listed twice" in bad.content
    empty = client.post(url, {**data, "rubric": "  "})
    assert b"This field is required" in empty.content or b"at least one" in empty.content


def test_members_add_change_and_keep_one_admin(client_for, dataset, admin_user, reviewer):
    client = client_for(admin_user)
    newcomer = UserFactory(username="newcomer")
    url = reverse("dataset_members", args=[dataset.slug])
    assert client.post(url, {"username": "newcomer", "role": "reviewer"}).status_code == 302
    assert Membership.objects.filter(dataset=dataset, user=newcomer, role=Role.REVIEWER).exists()
    assert (
        b"can be added here" in client.post(url, {"username": "ghost", "role": "reviewer"}).content
    )
    own = Membership.objects.get(dataset=dataset, user=admin_user)
    client.post(
        reverse("member_update", args=[dataset.slug, own.pk]),
        {"action": "role", "role": "reviewer"},
    )
    own.refresh_from_db()
    assert own.role == Role.ADMIN  # the last admin cannot step down
    client.post(reverse("member_update", args=[dataset.slug, own.pk]), {"action": "remove"})
    assert Membership.objects.filter(pk=own.pk).exists()


def test_reviewer_cannot_add_members_or_upload(client_for, dataset, reviewer):
    client = client_for(reviewer)
    assert (
        client.post(
            reverse("dataset_members", args=[dataset.slug]), {"username": "x", "role": "admin"}
        ).status_code
        == 403
    )
    upload = io.BytesIO(b'{"messages": []}\n')
    upload.name = "x.jsonl"
    assert (
        client.post(
            reverse("import_list", args=[dataset.slug]), {"files": upload, "format": "auto"}
        ).status_code
        == 403
    )


def test_upload_creates_batches_and_queues_them(
    client_for, dataset, admin_user, django_capture_on_commit_callbacks, clear_queues
):
    import django_rq

    client = client_for(admin_user)
    first = io.BytesIO(
        b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'
    )
    first.name = "one.jsonl"
    second = io.BytesIO(b"prompt,completion\nq,a\n")
    second.name = "two.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("import_list", args=[dataset.slug]),
            {"files": [first, second], "format": "auto"},
        )
    assert response.status_code == 302
    batches = list(ImportBatch.objects.filter(dataset=dataset).order_by("pk"))
    assert [b.original_name for b in batches] == ["one.jsonl", "two.csv"]
    assert all(b.rq_job_id for b in batches)
    assert django_rq.get_queue("default").count == 2


def test_upload_over_the_limit_is_refused_with_the_reason(
    client_for, dataset, admin_user, settings
):
    settings.CURATOR_MAX_UPLOAD_SIZE = 10
    upload = io.BytesIO(b"x" * 50)
    upload.name = "big.jsonl"
    response = client_for(admin_user).post(
        reverse("import_list", args=[dataset.slug]), {"files": upload, "format": "auto"}
    )
    assert response.status_code == 200
    assert b"over the upload limit" in response.content
    assert not ImportBatch.objects.exists()


def test_import_detail_progress_fragment_polls_only_while_active(client_for, dataset, reviewer):
    batch = ImportBatchFactory(dataset=dataset, status=JobStatus.RUNNING, done=50, total=100)
    client = client_for(reviewer)
    url = reverse("import_detail", args=[dataset.slug, batch.pk]) + "?fragment=progress"
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert (
        b"<html" not in fragment.content
        and b'hx-trigger="every 2s"' in fragment.content
        and b"50%" in fragment.content
    )
    ImportBatch.objects.filter(pk=batch.pk).update(status=JobStatus.SUCCEEDED)
    assert b"hx-trigger" not in client.get(url, headers={"HX-Request": "true"}).content


def test_errors_csv_lists_the_bad_lines(client_for, dataset, reviewer):
    batch = ImportBatchFactory(dataset=dataset, original_name="chats.jsonl")
    batch.line_errors.create(line=7, field="messages[0].role", reason="unknown role 'bot'")
    response = client_for(reviewer).get(reverse("import_errors_csv", args=[dataset.slug, batch.pk]))
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines() == [
        "file,line,field,reason",
        "chats.jsonl,7,messages[0].role,unknown role 'bot'",
    ]


def test_retry_requeues_a_failed_import(
    client_for, dataset, admin_user, django_capture_on_commit_callbacks, clear_queues
):
    batch = ImportBatchFactory(dataset=dataset, status=JobStatus.FAILED, error="worker lost")
    with django_capture_on_commit_callbacks(execute=True):
        client_for(admin_user).post(reverse("import_retry", args=[dataset.slug, batch.pk]))
    batch.refresh_from_db()
    assert batch.status == JobStatus.QUEUED and batch.error == ""
    assert AuditEvent.objects.filter(action="import.retry", object_id=str(batch.pk)).exists()


def test_conversation_list_filters_and_keyset_pages(client_for, dataset, reviewer):
    first = ConversationFactory(dataset=dataset, flags=["no_system_message"])
    rest = [ConversationFactory(dataset=dataset) for _ in range(55)]
    client = client_for(reviewer)
    url = reverse("conversation_list", args=[dataset.slug])
    page1 = client.get(url)
    assert page1.context["page"].next_after == rest[5].pk
    page2 = client.get(url, {"after": page1.context["page"].next_after})
    assert [c.pk for c in page2.context["page"]] == [c.pk for c in reversed(rest[:5])] + [first.pk]
    flagged = client.get(url, {"flag": "no_system_message"})
    assert [c.pk for c in flagged.context["page"]] == [first.pk]


def test_conversation_text_is_escaped(client_for, dataset, reviewer):
    conversation = ConversationFactory(
        dataset=dataset,
        original=[
            {"role": "user", "content": "<script>alert(1)</script>"},
            {"role": "assistant", "content": '<img src=x onerror="alert(2)">'},
        ],
    )
    body = (
        client_for(reviewer)
        .get(reverse("conversation_detail", args=[dataset.slug, conversation.pk]))
        .content
    )
    assert b"<script>alert(1)" not in body and b"&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert b"<img src=x" not in body
