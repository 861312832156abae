"""The runner steps a fine-tune by its kind: hosted jobs remotely, local ones on the GPU queue."""

from __future__ import annotations

from typing import Any

import pytest

from training.models import FineTuneJob
from training.services import runner
from training.services.local.handoff import step_local


def test_a_job_s_kind_follows_its_provider_kind() -> None:
    assert FineTuneJob(provider_kind="local").kind == "local"
    assert FineTuneJob(provider_kind="openai").kind == "remote"
    assert FineTuneJob(provider_kind="together").kind == "remote"


def test_each_kind_has_its_own_step() -> None:
    assert {"remote": runner.step_remote, "local": step_local} == runner.STEPS


@pytest.mark.parametrize("kind", ["local", "openai"])
def test_step_finetune_goes_through_the_table(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stepped: list[tuple[str, Any]] = []
    job = FineTuneJob(provider_kind=kind)
    for name in ("remote", "local"):
        monkeypatch.setitem(
            runner.STEPS,
            name,
            lambda *, job, schedule, name=name: stepped.append((name, job)) or 7.0,
        )

    assert runner.step_finetune(job=job, schedule=lambda _job, _delay: None) == 7.0
    assert stepped == [(job.kind, job)]
