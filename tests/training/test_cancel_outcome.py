"""A cancel says what actually happened at the provider, including when telling it failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from curation.models import DatasetVersion, JobStatus
from tests.factories import built_version
from tests.training.test_hosted_providers import MODELS, hosted  # noqa: F401
from training.models import FineTuneJob
from training.services import cancel_finetune, create_finetune_job, run_finetune_job
from training.simulator import SimulatorServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(dataset: Any) -> DatasetVersion:
    return built_version(dataset, train=12, validation=3)


def test_a_cancel_that_reached_the_provider_says_it_was_told_to_stop(
    hosted: SimulatorServer,  # noqa: F811
    version: DatasetVersion,
) -> None:
    job = create_finetune_job(
        version=version,
        provider="together",
        base_model=MODELS["together"],
        user=None,
        enqueue=False,
    )
    run_finetune_job(job_id=job.pk, schedule=lambda _job, _delay: None)

    done, message = cancel_finetune(job=FineTuneJob.objects.get(pk=job.pk), user=None)

    assert done
    assert message == "Cancelled. The provider was told to stop."


def test_a_remote_job_created_during_the_cancel_whose_stop_fails_is_not_called_stopped(
    hosted: SimulatorServer,  # noqa: F811
    version: DatasetVersion,
) -> None:
    job = create_finetune_job(
        version=version,
        provider="together",
        base_model=MODELS["together"],
        user=None,
        enqueue=False,
    )
    FineTuneJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)

    def worker_stores_a_remote_id(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        # The worker stores the remote job's id just as the cancel marks the row: the
        # provider does not know this id, so telling it to stop fails (HTTP 404).
        if "cancel_requested_at" in sql and sql.lstrip().upper().startswith("UPDATE"):
            execute(
                'UPDATE "training_finetunejob" SET "remote_job_id" = %s WHERE "id" = %s',
                ["ft-unknown-to-the-provider", job.pk],
                False,
                context,
            )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(worker_stores_a_remote_id):
        done, message = cancel_finetune(job=FineTuneJob.objects.get(pk=job.pk), user=None)

    assert done
    assert "The provider was told to stop" not in message
    assert message.startswith(
        "Cancelled here, but telling the provider to stop job ft-unknown-to-the-provider failed"
    )
    assert "cancel it at the provider" in message
    assert FineTuneJob.objects.get(pk=job.pk).status == JobStatus.CANCELLED
