"""PII detection runs on real `pii` workers, reviewer corrections, purge, and the leak invariant."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from curation.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    FindingDecision,
    FindingSource,
    JobStatus,
    PiiFinding,
    PiiRun,
)
from curation.selectors.redaction import redacted_messages
from curation.services.imports import create_import_batch
from curation.services.pii.findings import add_reviewer_findings, set_finding_decision
from curation.services.pii.retention import purge_if_configured, purge_originals
from curation.services.pii.runs import detect_chunk, plan_detection, start_detection
from tests.factories import ConversationFactory

PLANTED = {
    "email": "maria.gonzalez@example.org",
    "phone": "(415) 555-0134",
    "card": "4111 1111 1111 1111",
    "ssn": "536-90-4187",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ip": "203.0.113.77",
    "name": "Maria Gonzalez",
}


def planted_file() -> ContentFile:
    lines = [
        {
            "messages": [
                {"role": "system", "content": "You are a bank's support assistant."},
                {
                    "role": "user",
                    "content": f"Hi, my name is {PLANTED['name']}. My email is {PLANTED['email']} and my phone is {PLANTED['phone']}.",
                },
                {
                    "role": "assistant",
                    "content": f"Thanks {PLANTED['name']}! I have noted {PLANTED['email']}.",
                },
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": f"Charge my card {PLANTED['card']}; my SSN is {PLANTED['ssn']}.",
                },
                {"role": "assistant", "content": "Please never send card numbers or SSNs in chat."},
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": f"Wire it to IBAN {PLANTED['iban']} please, from IP {PLANTED['ip']}.",
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {
                                "name": "transfer",
                                "arguments": json.dumps(
                                    {"iban": PLANTED["iban"], "note": f"for {PLANTED['name']}"}
                                ),
                            },
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                {"role": "assistant", "content": "Done."},
            ]
        },
    ]
    return ContentFile("\n".join(json.dumps(line) for line in lines).encode(), name="planted.jsonl")


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_nothing_planted_survives_redaction_after_import_and_detection_on_workers(
    dataset, run_worker
):
    batch = create_import_batch(
        dataset=dataset,
        uploaded=planted_file(),
        original_name="planted.jsonl",
        fmt="auto",
        user=None,
    )
    run_worker("default", "pii")
    batch.refresh_from_db()
    assert batch.status == JobStatus.SUCCEEDED, batch.error
    run = PiiRun.objects.get(dataset=dataset)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert (run.done, run.total) == (3, 3)
    conversations = list(Conversation.objects.filter(dataset=dataset).select_related("dataset"))
    assert {c.status for c in conversations} == {ConversationStatus.IN_REVIEW}
    for conversation in conversations:
        text = json.dumps(redacted_messages(conversation))
        stored = json.dumps(conversation.redacted)
        for kind, value in PLANTED.items():
            assert value not in text, (kind, text)
            assert value not in stored, (kind, stored)
        # Tool-call arguments stay valid JSON after redaction.
        for message in redacted_messages(conversation):
            for call in message.get("tool_calls") or []:
                json.loads(call["function"]["arguments"])


def detect_now(dataset, *, rescan_all=False):  # type: ignore[no-untyped-def]
    """Run a detection pass in this process, as the workers would."""
    run = start_detection(dataset=dataset, rescan_all=rescan_all)
    assert run is not None
    plan_detection(run_id=run.pk)
    for conversation in Conversation.objects.filter(dataset=dataset):
        detect_chunk(run_id=run.pk, first_id=conversation.pk, last_id=conversation.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def queued_nowhere(monkeypatch):  # type: ignore[no-untyped-def]
    """Keep RQ out of in-process tests: the test drives the job functions itself."""
    monkeypatch.setattr("curation.models.jobs.Job.enqueue", lambda self: None)
    import django_rq

    monkeypatch.setattr(django_rq.queues.DjangoRQ, "enqueue", lambda *a, **k: None)


pytestmark = pytest.mark.django_db


def test_tags_are_consistent_across_turns(dataset, queued_nowhere):
    conversation = ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.PENDING_PII,
        original=[
            {
                "role": "user",
                "content": "please write to john.smith@example.com or jane@example.com.",
            },
            {"role": "assistant", "content": "I will write to john.smith@example.com first."},
        ],
    )
    detect_now(dataset)
    conversation.refresh_from_db()
    user, assistant = (m["content"] for m in redacted_messages(conversation))
    assert user == "please write to <EMAIL_ADDRESS_1> or <EMAIL_ADDRESS_2>."
    assert assistant == "I will write to <EMAIL_ADDRESS_1> first."


def test_allow_deny_and_custom_patterns_apply(dataset, queued_nowhere):
    dataset.pii_allow_list = ["Nimbus Cloud"]
    dataset.pii_deny_list = ["Project Falcon"]
    dataset.pii_patterns = [{"entity": "TICKET_ID", "pattern": r"TCK-\d{6}", "score": 1.0}]
    dataset.save()
    conversation = ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.PENDING_PII,
        original=[
            {
                "role": "user",
                "content": "Nimbus Cloud lost ticket TCK-123456 about Project Falcon.",
            },
            {"role": "assistant", "content": "Sorry about that."},
        ],
    )
    detect_now(dataset)
    conversation.refresh_from_db()
    text = redacted_messages(conversation)[0]["content"]
    assert "Nimbus Cloud" in text
    assert "TCK-123456" not in text and "<TICKET_ID_1>" in text
    assert "Project Falcon" not in text


def test_reviewer_decisions_survive_a_rerun_and_are_audited(dataset, reviewer, queued_nowhere):
    conversation = ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.PENDING_PII,
        original=[
            {
                "role": "user",
                "content": "My email is ana@example.com and the code word is Bluebird.",
            },
            {"role": "assistant", "content": "Thanks!"},
        ],
    )
    detect_now(dataset)
    email = PiiFinding.objects.get(conversation=conversation, entity_type="EMAIL_ADDRESS")
    set_finding_decision(finding=email, decision=FindingDecision.KEEP, user=reviewer)
    add_reviewer_findings(
        conversation=conversation, text="Bluebird", entity_type="SECRET", user=reviewer
    )

    detect_now(dataset, rescan_all=True)
    findings = list(PiiFinding.objects.filter(conversation=conversation))
    kept = [f for f in findings if f.entity_type == "EMAIL_ADDRESS"]
    assert len(kept) == 1 and kept[0].decision == FindingDecision.KEEP and kept[0].pk == email.pk
    assert [f.entity_type for f in findings if f.source == FindingSource.REVIEWER] == ["SECRET"]
    conversation.refresh_from_db()
    assert (
        redacted_messages(conversation)[0]["content"]
        == "My email is ana@example.com and the code word is <SECRET_1>."
    )
    assert AuditEvent.objects.filter(action="pii.decision", actor=reviewer).count() == 1
    assert AuditEvent.objects.filter(action="pii.add", actor=reviewer).count() == 1


def test_a_lost_run_is_retried_without_repeating_done_work(dataset, queued_nowhere):
    first, second = (
        ConversationFactory(
            dataset=dataset,
            status=ConversationStatus.PENDING_PII,
            original=[
                {"role": "user", "content": f"Mail me at u{n}@example.com"},
                {"role": "assistant", "content": "ok"},
            ],
        )
        for n in range(2)
    )
    run = start_detection(dataset=dataset)
    plan_detection(run_id=run.pk)
    detect_chunk(run_id=run.pk, first_id=first.pk, last_id=first.pk)
    PiiRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1)
    )
    run.refresh_lost()
    assert run.status == JobStatus.FAILED and "worker lost" in run.error
    assert run.retry()
    plan_detection(run_id=run.pk)
    # The chunk covering both ids analyzes only the one left.
    assert detect_chunk(run_id=run.pk, first_id=first.pk, last_id=second.pk) == 1
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED and run.done == 2
    assert PiiFinding.objects.filter(conversation=first).count() == 1


def test_purge_removes_originals_and_keeps_redacted_text(dataset, admin_user, queued_nowhere):
    conversation = ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.PENDING_PII,
        original=[
            {"role": "user", "content": "I'm at bob@example.com"},
            {"role": "assistant", "content": "Noted."},
        ],
    )
    detect_now(dataset)
    Conversation.objects.filter(pk=conversation.pk).update(status=ConversationStatus.APPROVED)
    assert purge_originals(dataset=dataset, user=admin_user) == 1
    conversation.refresh_from_db()
    assert conversation.original == [] and conversation.originals_purged_at is not None
    assert conversation.redacted[0]["content"] == "I'm at <EMAIL_ADDRESS_1>"
    assert redacted_messages(conversation)[0]["content"] == "I'm at <EMAIL_ADDRESS_1>"
    assert not PiiFinding.objects.filter(conversation=conversation).exists()
    assert "bob@example.com" not in json.dumps(
        list(Conversation.objects.filter(pk=conversation.pk).values()), default=str
    )


def test_purge_after_approval_setting(dataset, admin_user, queued_nowhere):
    dataset.purge_originals_after_approval = True
    dataset.save()
    conversation = ConversationFactory(dataset=dataset, status=ConversationStatus.APPROVED)
    purge_if_configured(conversation=conversation, user=admin_user)
    conversation.refresh_from_db()
    assert conversation.originals_purged_at is not None


# -- pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "reviewer", "outsider", "anonymous"])
def test_pii_pages_permissions(
    request, who, dataset, admin_user, reviewer, outsider, client_for, queued_nowhere
):
    user = {"admin": admin_user, "reviewer": reviewer, "outsider": outsider, "anonymous": None}[who]
    client = client_for(user)
    conversation = ConversationFactory(
        dataset=dataset,
        original=[{"role": "user", "content": "Call Ann"}, {"role": "assistant", "content": "ok"}],
    )
    finding = PiiFinding.objects.create(
        conversation=conversation,
        message_index=0,
        field="content",
        start=5,
        end=8,
        entity_type="PERSON",
    )
    members_get = [
        reverse("pii_overview", args=[dataset.slug]),
        reverse("conversation_chat", args=[dataset.slug, conversation.pk]),
    ]
    admin_get = [
        reverse("pii_settings", args=[dataset.slug]),
        reverse("pii_purge", args=[dataset.slug]),
    ]
    member_post = [
        (
            reverse("finding_decide", args=[dataset.slug, conversation.pk, finding.pk]),
            {"decision": "keep"},
        ),
        (
            reverse("finding_add", args=[dataset.slug, conversation.pk]),
            {"text": "Ann", "entity_type": "PERSON"},
        ),
    ]
    admin_post = [(reverse("pii_rerun", args=[dataset.slug]), {})]
    for url in members_get:
        code = client.get(url).status_code
        assert code == {"admin": 200, "reviewer": 200, "outsider": 404, "anonymous": 302}[who], url
    for url in admin_get:
        code = client.get(url).status_code
        assert code == {"admin": 200, "reviewer": 403, "outsider": 404, "anonymous": 302}[who], url
    for url, data in member_post:
        code = client.post(url, data).status_code
        assert code == {"admin": 302, "reviewer": 302, "outsider": 404, "anonymous": 302}[who], url
    for url, data in admin_post:
        code = client.post(url, data).status_code
        assert code == {"admin": 302, "reviewer": 403, "outsider": 404, "anonymous": 302}[who], url


def test_conversation_page_highlights_and_toggles_with_htmx(
    dataset, reviewer, client_for, queued_nowhere
):
    conversation = ConversationFactory(
        dataset=dataset,
        original=[
            {"role": "user", "content": "<b>Call</b> Ann Lee"},
            {"role": "assistant", "content": "ok"},
        ],
    )
    finding = PiiFinding.objects.create(
        conversation=conversation,
        message_index=0,
        field="content",
        start=12,
        end=19,
        entity_type="PERSON",
        score=0.85,
    )
    client = client_for(reviewer)
    page = client.get(
        reverse("conversation_detail", args=[dataset.slug, conversation.pk])
    ).content.decode()
    assert "&lt;b&gt;Call&lt;/b&gt; " in page and "<b>Call" not in page
    assert f'data-finding="{finding.pk}"' in page and "Ann Lee" in page and "score 0.85" in page
    redacted = client.get(
        reverse("conversation_chat", args=[dataset.slug, conversation.pk]) + "?view=redacted"
    ).content.decode()
    assert "&lt;PERSON_1&gt;" in redacted and "Ann Lee" not in redacted
    toggled = client.post(
        reverse("finding_decide", args=[dataset.slug, conversation.pk, finding.pk]),
        {"decision": "keep"},
        headers={"HX-Request": "true"},
    )
    assert (
        toggled.status_code == 200
        and b'id="chat-panel"' in toggled.content
        and b"<html" not in toggled.content
    )
    finding.refresh_from_db()
    assert finding.decision == FindingDecision.KEEP and finding.decided_by == reviewer


def test_adding_a_selected_span_and_a_bad_selection(dataset, reviewer, client_for, queued_nowhere):
    conversation = ConversationFactory(
        dataset=dataset,
        original=[
            {"role": "user", "content": "Ann and Ann"},
            {"role": "assistant", "content": "ok"},
        ],
    )
    client = client_for(reviewer)
    url = reverse("finding_add", args=[dataset.slug, conversation.pk])
    client.post(
        url,
        {
            "text": "Ann",
            "entity_type": "person",
            "message_index": 0,
            "field": "content",
            "start": 8,
        },
    )
    assert list(
        PiiFinding.objects.filter(conversation=conversation).values_list(
            "start", "end", "entity_type"
        )
    ) == [(8, 11, "PERSON")]
    bad = client.post(
        url,
        {
            "text": "Ann",
            "entity_type": "PERSON",
            "message_index": 0,
            "field": "content",
            "start": 2,
        },
        headers={"HX-Request": "true"},
    )
    assert b"not at that place" in bad.content
    missing = client.post(
        url, {"text": "Zed", "entity_type": "PERSON"}, headers={"HX-Request": "true"}
    )
    assert b"does not occur" in missing.content


def test_pii_settings_validate_patterns_and_threshold(dataset, admin_user, client_for):
    client = client_for(admin_user)
    url = reverse("pii_settings", args=[dataset.slug])
    base = {
        "pii_entities": ["PERSON", "EMAIL_ADDRESS"],
        "pii_threshold": 0.6,
        "pii_operator": "surrogate",
        "pii_allow_list": "Nimbus\n",
        "pii_deny_list": "",
        "pii_patterns": "ticket: TCK-\\d+ | 0.9",
    }
    assert client.post(url, base).status_code == 302
    dataset.refresh_from_db()
    assert dataset.pii_patterns == [{"entity": "TICKET", "pattern": "TCK-\\d+", "score": 0.9}]
    assert dataset.pii_allow_list == ["Nimbus"] and dataset.pii_operator == "surrogate"
    bad = client.post(url, {**base, "pii_patterns": "X: (unclosed", "pii_threshold": 3})
    assert b"does not compile" in bad.content and b"between 0 and 1" in bad.content


def test_purge_needs_confirmation_of_the_count(dataset, admin_user, client_for, queued_nowhere):
    ConversationFactory(dataset=dataset, status=ConversationStatus.APPROVED)
    client = client_for(admin_user)
    url = reverse("pii_purge", args=[dataset.slug])
    assert b"<strong>1</strong>" in client.get(url).content
    client.post(url, {"confirm": "5"})
    assert not Conversation.objects.filter(originals_purged_at__isnull=False).exists()
    client.post(url, {"confirm": "1"})
    assert Conversation.objects.filter(originals_purged_at__isnull=False).count() == 1


def test_redact_command_runs_here_and_reports(dataset, queued_nowhere):
    from io import StringIO

    from django.core.management import call_command

    ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.PENDING_PII,
        original=[
            {"role": "user", "content": "Reach me at kim@example.com"},
            {"role": "assistant", "content": "Sure."},
        ],
    )
    ConversationFactory(dataset=dataset, status=ConversationStatus.PENDING_PII)
    out = StringIO()
    call_command("redact", "--dataset", dataset.slug, "--wait", "--json", stdout=out)
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (result["analyzed"], result["redacted"]) == (2, 1)
    assert result["findings"] >= 1
    again = StringIO()
    call_command("redact", "--dataset", dataset.slug, "--wait", "--json", stdout=again)
    assert json.loads(again.getvalue().strip().splitlines()[-1])["analyzed"] == 0


def test_redact_command_fails_with_one_line_for_an_unknown_dataset(db):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no dataset 'nope'"):
        call_command("redact", "--dataset", "nope")


@pytest.mark.django_db(transaction=True)
def test_a_chunk_is_not_skipped_while_another_worker_holds_rows_of_the_same_dataset(
    dataset, queued_nowhere
):
    """Two `pii` workers share a dataset: each one's row locks must not hide the other's chunk."""
    import psycopg
    from django.db import connection

    mine = ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.PENDING_PII,
        original=[
            {"role": "user", "content": "Mail ann@example.com"},
            {"role": "assistant", "content": "ok"},
        ],
    )
    theirs = ConversationFactory(dataset=dataset, status=ConversationStatus.PENDING_PII)
    run = start_detection(dataset=dataset)
    plan_detection(run_id=run.pk)
    params = connection.get_connection_params()
    with psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        dbname=params["dbname"],
    ) as other:
        # The other worker, mid-chunk: its conversation and the dataset row it joined are locked.
        other.execute("SELECT id FROM curation_conversation WHERE id = %s FOR UPDATE", [theirs.pk])
        other.execute("SELECT id FROM curation_dataset WHERE id = %s FOR UPDATE", [dataset.pk])
        assert detect_chunk(run_id=run.pk, first_id=mine.pk, last_id=mine.pk) == 1
    mine.refresh_from_db()
    assert mine.status == ConversationStatus.IN_REVIEW


def test_the_redaction_function_named_in_version_manifests_stays_importable():
    assert import_string("curation.services.pii.redacted_messages") is redacted_messages
