"""Detection runs never lie about their state: failures end failed, runs of one dataset never
race, leftover runs are reconciled, bad custom patterns are refused before they are saved."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from curation.models import (
    Conversation,
    ConversationStatus,
    Dataset,
    FindingDecision,
    JobStatus,
    PiiFinding,
    PiiRun,
)
from curation.pii.patterns import pattern_problem
from curation.services.pii.findings import PiiDecisionError, set_finding_decision
from curation.services.pii.runs import (
    chunk_size,
    detect_chunk,
    plan_detection,
    reconcile_runs,
    run_detection_here,
    start_detection,
)
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_nowhere(monkeypatch):  # type: ignore[no-untyped-def]
    """Keep RQ out of in-process tests: the test drives the job functions itself."""
    import django_rq

    monkeypatch.setattr("curation.models.jobs.Job.enqueue", lambda self: None)
    monkeypatch.setattr(django_rq.queues.DjangoRQ, "enqueue", lambda *a, **k: None)


def pending(dataset: Dataset, text: str = "Mail me at kim@example.com") -> Conversation:
    return ConversationFactory(
        dataset=dataset,
        status=ConversationStatus.PENDING_PII,
        original=[{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}],
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_run_whose_pattern_breaks_in_the_worker_ends_failed_with_the_message(dataset, run_worker):
    # Saved around the form (an older row, or the shell): the worker must not hang on it.
    Dataset.objects.filter(pk=dataset.pk).update(
        pii_patterns=[{"entity": "TICKET", "pattern": "(unclosed", "score": 1.0}]
    )
    pending(dataset)
    run = start_detection(dataset=dataset)

    run_worker("pii")

    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert "custom pattern 1 (TICKET): invalid regular expression" in run.error


def test_redact_wait_fails_with_the_run_error_not_running(dataset, queued_nowhere):
    Dataset.objects.filter(pk=dataset.pk).update(
        pii_patterns=[{"entity": "TICKET", "pattern": "(unclosed", "score": 1.0}]
    )
    pending(dataset)

    with pytest.raises(CommandError, match="invalid regular expression"):
        call_command("redact", "--dataset", dataset.slug, "--wait")
    assert PiiRun.objects.get().status == JobStatus.FAILED


def test_a_second_start_joins_the_active_run_instead_of_racing_it(dataset, queued_nowhere):
    pending(dataset)
    first = start_detection(dataset=dataset)
    plan_detection(run_id=first.pk)  # a worker claimed it and handed out chunks
    pending(dataset, "Call me on +1 (415) 555-0134")  # another import finished meanwhile

    second = start_detection(dataset=dataset)

    assert second.pk == first.pk
    assert PiiRun.objects.count() == 1
    assert second.total == 2


def test_redact_wait_beside_a_running_worker_run_finishes_it(dataset, queued_nowhere):
    """The automatic run after an import is still being worked when `redact --wait` starts:
    the CLI works through what is left of that run and reports it succeeded."""
    first, second = pending(dataset), pending(dataset, "Reach Maria Gonzalez, my sister.")
    run = start_detection(dataset=dataset)
    plan_detection(run_id=run.pk)
    detect_chunk(run_id=run.pk, first_id=first.pk, last_id=first.pk)

    out = StringIO()
    call_command("redact", "--dataset", dataset.slug, "--wait", "--json", stdout=out)

    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["run"] == run.pk
    run.refresh_from_db()
    assert (run.status, run.done) == (JobStatus.SUCCEEDED, 2)
    second.refresh_from_db()
    assert second.status == ConversationStatus.IN_REVIEW


def test_a_run_whose_work_was_done_by_others_is_reconciled(dataset, queued_nowhere):
    conversation = pending(dataset)
    run = start_detection(dataset=dataset)
    run.claim()
    # Its conversations were analyzed elsewhere (an older run's last chunk).
    Conversation.objects.filter(pk=conversation.pk).update(status=ConversationStatus.IN_REVIEW)

    assert reconcile_runs(dataset_id=dataset.pk) == 1

    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED


def test_a_full_rescan_takes_over_from_the_active_run(dataset, admin_user, queued_nowhere):
    pending(dataset)
    first = start_detection(dataset=dataset)
    first.claim()

    second = start_detection(dataset=dataset, user=admin_user, rescan_all=True)

    first.refresh_from_db()
    assert second.pk != first.pk
    assert first.status == JobStatus.CANCELLED
    assert f"taken over by run {second.pk}" in first.error
    assert detect_chunk(run_id=first.pk, first_id=0, last_id=10**9) == 0


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(unclosed", "does not compile"),
        ("x*", "matches the empty string"),
        ("(a+)+$", "catastrophic backtracking"),
    ],
)
def test_bad_custom_patterns_are_refused(pattern, problem):
    assert problem in pattern_problem(pattern)


def test_a_sound_custom_pattern_is_accepted():
    assert pattern_problem(r"TCK-\d{6}") is None


def test_the_settings_form_refuses_a_backtracking_pattern_and_names_the_line(
    dataset, admin_user, client_for
):
    client = client_for(admin_user)
    url = reverse("pii_settings", args=[dataset.slug])
    data = {
        "pii_entities": ["PERSON"],
        "pii_threshold": "0.4",
        "pii_operator": "tag",
        "pii_patterns": "TICKET: TCK-\\d{6}\nSLOW: (a+)+$",
    }

    response = client.post(url, data)

    assert response.status_code == 200
    assert "Line 2: the pattern took over" in response.content.decode()
    dataset.refresh_from_db()
    assert dataset.pii_patterns == []


def test_keeping_pii_on_an_approved_conversation_is_refused(dataset, reviewer, queued_nowhere):
    conversation = pending(dataset)
    run_detection_here(run=start_detection(dataset=dataset, enqueue=False))
    Conversation.objects.filter(pk=conversation.pk).update(status=ConversationStatus.APPROVED)
    finding = PiiFinding.objects.get(conversation=conversation)

    with pytest.raises(PiiDecisionError, match="already approved"):
        set_finding_decision(finding=finding, decision=FindingDecision.KEEP, user=reviewer)

    finding.refresh_from_db()
    assert finding.decision == FindingDecision.REDACT


def test_a_run_planned_with_no_worker_listening_leaves_eight_chunks_for_each_of_two(settings):
    settings.CURATOR_PII_CHUNK_SIZE = 10
    size = chunk_size(conversations=4000, workers=0)
    assert -(-4000 // size) >= 16


def test_more_listening_workers_get_more_chunks_but_never_below_the_configured_size(settings):
    settings.CURATOR_PII_CHUNK_SIZE = 10
    assert -(-4000 // chunk_size(conversations=4000, workers=5)) >= 40
    assert chunk_size(conversations=100, workers=5) == 10
