"""Job.run_claimed / run_guarded: the one claim → run → fail → re-raise ladder of every job."""

from __future__ import annotations

from typing import Any

import pytest

from curation.models import JobStatus, QualityRun
from tests.factories import DatasetFactory


class Refused(Exception):
    pass


def _run() -> QualityRun:
    return QualityRun.objects.create(dataset=DatasetFactory())


def _unexpected(error: Exception) -> str:
    return f"unexpected error ({type(error).__name__}: {error})"


@pytest.mark.django_db
def test_it_claims_a_queued_row_and_returns_what_the_work_returns(settings: Any) -> None:
    settings.CURATOR_JOB_TIMER_HEARTBEATS = False
    run = _run()

    assert run.run_claimed(lambda: "done", unexpected=_unexpected) == "done"

    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and run.attempts == 1


@pytest.mark.django_db
def test_it_does_nothing_for_a_row_it_cannot_claim(settings: Any) -> None:
    settings.CURATOR_JOB_TIMER_HEARTBEATS = False
    run = _run()
    run.succeed()
    ran: list[bool] = []

    assert run.run_claimed(lambda: ran.append(True), unexpected=_unexpected) is None
    assert ran == []


@pytest.mark.django_db
def test_an_expected_error_goes_to_its_handler_and_is_not_raised(settings: Any) -> None:
    settings.CURATOR_JOB_TIMER_HEARTBEATS = False
    run = _run()

    def refuse() -> str:
        raise Refused("bad input")

    def handle(error: Refused) -> str:
        run.fail(f"refused: {error}")
        return "handled"

    assert run.run_claimed(refuse, handlers={Refused: handle}, unexpected=_unexpected) == (
        "handled"
    )
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and run.error == "refused: bad input"


@pytest.mark.django_db
def test_an_unexpected_error_marks_the_row_failed_and_is_raised_again(settings: Any) -> None:
    settings.CURATOR_JOB_TIMER_HEARTBEATS = False
    run = _run()

    def crash() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        run.run_claimed(crash, handlers={Refused: lambda error: None}, unexpected=_unexpected)

    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert run.error == "unexpected error (KeyError: 'boom')"
    assert run.can_retry
