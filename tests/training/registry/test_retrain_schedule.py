"""The weekly retraining schedule starts a due retraining once a week per dataset."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import FineTuneJobFactory
from training.registry.retrain import start_scheduled_retrains
from training.registry.stages import RegistrySettings, RetrainRun

pytestmark = pytest.mark.django_db


def test_a_due_weekly_retraining_starts_once(dataset, version):
    job = FineTuneJobFactory(dataset=dataset, version=version)
    RegistrySettings.objects.create(dataset=dataset, retrain_like=job, retrain_weekly=True)
    assert start_scheduled_retrains() == 1
    run = RetrainRun.objects.get()
    assert run.scheduled and run.like == job
    RetrainRun.objects.update(status="succeeded")
    assert start_scheduled_retrains() == 0  # the last one is less than a week old
    RetrainRun.objects.update(created_at=timezone.now() - timedelta(days=8))
    assert start_scheduled_retrains() == 1


def test_no_schedule_no_retraining(dataset, version):
    job = FineTuneJobFactory(dataset=dataset, version=version)
    RegistrySettings.objects.create(dataset=dataset, retrain_like=job, retrain_weekly=False)
    assert start_scheduled_retrains() == 0
