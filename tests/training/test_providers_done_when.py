"""Issue 24's "done when", on the simulator, for Together, Fireworks and Azure OpenAI: a version
trains with faults on job creation (a 500, then a create whose reply is lost) and ends with
exactly one remote job; the fine-tune is deployed by the evaluation itself (in a real RQ burst
worker), evaluated beside the dataset's production model, and compared; and the simulator's
credential log shows that no request carrying one provider's key reached another's path.

Each simulated provider sends a key of its own (``sk-curator-simulator-<name>``), Azure its
``api-key`` and the control plane its token, so a key that strays is seen where it lands.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import django_rq
import httpx
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from curation.models import DatasetVersion, JobStatus
from tests.factories import azure_on_simulator
from tests.training.evaluation.conftest import make_version, text_example
from training.evaluation.models import EvalRun
from training.models import FineTuneJob
from training.providers.registry import SIMULATOR_API_KEY
from training.services import create_finetune_job, drive_finetune
from training.simulator import SimulatorServer
from training.simulator.serving import deployments

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

AZURE_KEY = "fake-azure-key-done-when"
ARM_TOKEN = "fake-arm-token-done-when"
SUBSCRIPTION, GROUP, RESOURCE = "sub-1", "rg-1", "curator-aoai"
# Per provider: the base model trained (one Together and Fireworks serve a fine-tune of only
# on a deployment), the production model and a judge of the same provider (so nothing else
# is asked), and Azure's deployments made by hand for the two base models it uses.
CASES = {
    "together": {
        "base": "meta-llama/Llama-3.2-3B-Instruct",
        "production": "together:meta-llama/Llama-3.2-3B-Instruct",
        "judge": "together:Qwen/Qwen2.5-7B-Instruct",
    },
    "fireworks": {
        "base": "accounts/fireworks/models/llama-v3p2-3b-instruct",
        "production": "fireworks:accounts/fireworks/models/llama-v3p2-3b-instruct",
        "judge": "fireworks:accounts/fireworks/models/qwen2p5-7b-instruct",
    },
    "azure": {
        "base": "gpt-4o-mini-2024-07-18",
        "production": "azure:gpt-4o-mini",
        "judge": "azure:gpt-41-judge",
        "by_hand": {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-41-judge": "gpt-4.1-2025-04-14"},
    },
}
# Where each credential may go, as the simulator's paths stand for the vendors' hosts.
HOMES = {
    f"{SIMULATOR_API_KEY}-openai": {"openai"},
    f"{SIMULATOR_API_KEY}-together": {"together"},
    f"{SIMULATOR_API_KEY}-fireworks": {"fireworks"},
    AZURE_KEY: {"azure"},
    ARM_TOKEN: {"azure-management"},
}
VENDORS = {
    "together": {"together"},
    "fireworks": {"fireworks"},
    "azure": {"azure", "azure-management"},
}


@pytest.fixture
def providers(settings: Any, monkeypatch: Any) -> Iterator[SimulatorServer]:
    """Together and Fireworks simulated (no keys), Azure on the simulator's Azure paths with
    the control-plane rights; the same here and, through the environment, in the worker."""
    with SimulatorServer(port=0, speed=2000) as server:
        root = server.base_url.removesuffix("/v1")
        for name in (
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "TOGETHER_API_KEY",
            "TOGETHER_BASE_URL",
            "FIREWORKS_API_KEY",
            "FIREWORKS_BASE_URL",
            "FIREWORKS_ACCOUNT_ID",
            "AZURE_MANAGEMENT_URL",
        ):
            monkeypatch.delenv(name, raising=False)
        worker_env = {
            "CURATOR_SIMULATOR_URL": server.base_url,
            "AZURE_OPENAI_ENDPOINT": root,
            "AZURE_OPENAI_API_KEY": AZURE_KEY,
            "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
            "AZURE_RESOURCE_GROUP": GROUP,
            "AZURE_RESOURCE_NAME": RESOURCE,
            "AZURE_MANAGEMENT_TOKEN": ARM_TOKEN,
            "CURATOR_ALLOW_PAID_DEPLOYMENTS": "true",
            "CURATOR_SERVING_POLL_SECONDS": "0.02",
            "CURATOR_SERVING_WAIT_SECONDS": "30",
            "CURATOR_EVAL_RETRY_SECONDS": "0.01",
            "CURATOR_EVAL_TIMEOUT": "5",
        }
        for name, value in worker_env.items():
            monkeypatch.setenv(name, value)
        settings.CURATOR_SIMULATOR_URL = server.base_url
        settings.CURATOR_SIMULATE_WITHOUT_KEYS = True
        # What curation/settings.py builds from the environment above.
        settings.CURATOR_TRAINING_PROVIDERS = [
            {"name": "openai", "kind": "openai", "api_key_env": "OPENAI_API_KEY"},
            {"name": "together", "kind": "together", "api_key_env": "TOGETHER_API_KEY"},
            {
                "name": "fireworks",
                "kind": "fireworks",
                "api_key_env": "FIREWORKS_API_KEY",
                "account_id_env": "FIREWORKS_ACCOUNT_ID",
            },
            azure_on_simulator(
                server.base_url,
                subscription_id=SUBSCRIPTION,
                resource_group=GROUP,
                resource_name=RESOURCE,
            ),
        ]
        settings.CURATOR_ALLOW_PAID_DEPLOYMENTS = True
        settings.CURATOR_SERVING_POLL_SECONDS = 0.02
        settings.CURATOR_SERVING_WAIT_SECONDS = 30
        settings.CURATOR_TRAINING_RETRY_SECONDS = 0.05
        settings.CURATOR_TRAINING_POLL_SECONDS = 0.02
        settings.CURATOR_TRAINING_POLL_MAX_SECONDS = 0.1
        settings.CURATOR_EVAL_RETRY_SECONDS = 0.01
        settings.CURATOR_EVAL_TIMEOUT = 5
        django_rq.get_queue("eval").empty()
        yield server
        django_rq.get_queue("eval").empty()


@pytest.fixture
def version(dataset: Any) -> DatasetVersion:
    # Few examples: the loop is under test, not who wins.
    return make_version(
        dataset,
        train=[text_example(i) for i in range(10)],
        validation=[text_example(i) for i in range(100, 104)],
    )


def deploy_by_hand(server: SimulatorServer, name: str, model: str) -> None:
    """An Azure deployment a person made (the base models answer only through one)."""
    url = (
        f"{server.url}/azure-management/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/"
        f"providers/Microsoft.CognitiveServices/accounts/{RESOURCE}/deployments/{name}"
        "?api-version=2024-10-01"
    )
    body = {
        "sku": {"name": "Standard", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
    }
    reply = httpx.put(url, json=body, headers={"authorization": f"Bearer {ARM_TOKEN}"})
    assert reply.status_code in {200, 201}, reply.text


def command(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.parametrize("provider", sorted(CASES))
def test_trains_through_faults_then_deploys_evaluates_and_compares_keeping_keys_home(
    providers: SimulatorServer,
    dataset: Any,
    version: DatasetVersion,
    run_worker: Any,
    admin_user: Any,
    provider: str,
) -> None:
    case = CASES[provider]
    as_admin = Client()
    as_admin.force_login(admin_user)
    providers.set_faults(f"{provider}:jobs.create=500,timeout")

    job = create_finetune_job(
        version=version, provider=provider, base_model=case["base"], user=None, enqueue=False
    )
    job = drive_finetune(job_id=job.pk, sleep=lambda seconds: time.sleep(0.02))

    assert job.status == JobStatus.SUCCEEDED, job.error
    creates = [o for e, o in providers.state.request_log if e == f"{provider}:jobs.create"]
    assert creates == ["500", "timeout"]
    jobs = providers.state.jobs_by_shape()
    assert len(jobs[provider]) == 1
    assert sum(len(listed) for listed in jobs.values()) == 1

    for name, model in case.get("by_hand", {}).items():
        deploy_by_hand(providers, name, model)
    command("promote", "--dataset", dataset.slug, "--model", case["production"])
    # No judge here: the comparison's judge decides; each reply is asked for once.
    evaluate = ("evaluate", "--dataset", dataset.slug, "--version", "1")
    production = command(*evaluate, "--model", case["production"])["run"]
    # The fine-tune's evaluation from the UI's evaluation form, as an admin would start it.
    page = as_admin.post(
        reverse("eval_run_create", args=[dataset.slug]),
        {
            "version": version.number,
            "split": "validation",
            "model": f"job:{job.pk}",
            "temperature": 0,
            "max_tokens": 512,
            "seed": 0,
            "concurrency": 8,
        },
    )
    assert page.status_code == 302, page.context["form"].errors
    candidate = EvalRun.objects.get(model__job=job).pk
    # Queued, not run: the worker deploys the fine-tune itself before it asks it anything.
    assert not [
        r
        for r in deployments(providers.state, provider).values()
        if r.model == job.fine_tuned_model
    ]

    run_worker("eval")

    runs = list(EvalRun.objects.filter(pk__in=[production, candidate]))
    assert len(runs) == 2
    for run in runs:
        assert run.status == JobStatus.SUCCEEDED, run.error
        assert run.metrics["scored"] == 4 and run.metrics["failed"] == 0
    served = FineTuneJob.objects.get(pk=job.pk).artifacts["serving"]
    assert served["state"] == "answering" and served["deployment"]
    of_the_fine_tune = [
        record
        for record in deployments(providers.state, provider).values()
        if record.model == job.fine_tuned_model and not record.deleted
    ]
    assert len(of_the_fine_tune) == 1

    compared = command(
        "compare_runs",
        "--runs",
        str(production),
        str(candidate),
        "--judge",
        case["judge"],
        "--wait",
    )

    assert compared["status"] == JobStatus.SUCCEEDED
    assert compared["examples"] == 4
    assert compared["a_wins"] + compared["b_wins"] + compared["ties"] == 4
    # Every credential the simulator saw went to its own vendor's paths, and only this
    # provider's paths were asked anything.
    seen = providers.state.credential_log
    assert seen
    strays = [(vendor, key[-12:]) for vendor, key in seen if vendor not in HOMES.get(key, set())]
    assert strays == []
    assert {vendor for vendor, _ in seen} <= VENDORS[provider]
