"""Model references, endpoint settings and their checks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.training.evaluation.conftest import BASE
from training.evaluation.checks import check_eval_settings
from training.evaluation.client import EndpointNotConfigured, complete, endpoint_for
from training.registry.models import ModelKind
from training.registry.services import UnknownModel, resolve_model

pytestmark = pytest.mark.django_db


def test_openai_refs_go_to_openai_base_url_when_no_openai_provider_is_configured(
    sim: Any, monkeypatch: Any, dataset: Any
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", sim.base_url)
    model = resolve_model(f"openai:{BASE}", dataset=dataset)
    endpoint = endpoint_for(model)
    assert endpoint.url == sim.base_url
    reply = complete(endpoint, messages=[{"role": "user", "content": "Hello?"}])
    assert reply.simulated and reply.message["content"]


def test_an_endpoint_reads_its_key_from_the_named_variable_only(
    settings: Any, monkeypatch: Any, dataset: Any
) -> None:
    settings.CURATOR_EVAL_ENDPOINTS = [
        {
            "name": "vllm",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "llama",
            "api_key_env": "VLLM_KEY",
        }
    ]
    model = resolve_model("vllm", dataset=dataset)
    assert model.kind == ModelKind.ENDPOINT and model.name == "llama"
    monkeypatch.delenv("VLLM_KEY", raising=False)
    with pytest.raises(EndpointNotConfigured, match="VLLM_KEY"):
        endpoint_for(model)
    monkeypatch.setenv("VLLM_KEY", "secret-value")
    assert endpoint_for(model).api_key == "secret-value"
    model.refresh_from_db()
    assert "secret-value" not in str(model.__dict__)


def test_refs_that_name_nothing_say_what_is_expected(sim: Any, dataset: Any) -> None:
    with pytest.raises(UnknownModel, match="job:<id>"):
        resolve_model("gpt-4o", dataset=dataset)
    with pytest.raises(UnknownModel, match="no fine-tune job"):
        resolve_model("job:999", dataset=dataset)


def test_endpoint_settings_are_checked(settings: Any) -> None:
    settings.CURATOR_EVAL_ENDPOINTS = [
        {"name": "a:b", "base_url": "ftp://x", "model": ""},
        {"name": "ok", "base_url": "http://x/v1", "model": "m", "api_key": "sk-plain"},
    ]
    ids = {problem.id for problem in check_eval_settings()}
    assert {"training.E103", "training.E105", "training.E106", "training.E107"} <= ids
    settings.CURATOR_EVAL_ENDPOINTS = [{"name": "ok", "base_url": "http://x/v1", "model": "m"}]
    assert check_eval_settings() == []


def test_a_local_finetune_registers_its_adapter_with_lineage(
    dataset: Any, eval_version: Any
) -> None:
    from tests.factories import FineTuneJobFactory
    from training.registry.services import register_finetuned_model

    job = FineTuneJobFactory(
        dataset=dataset,
        version=eval_version,
        provider="local",
        provider_kind="local",
        base_model="/models/tiny",
        status="succeeded",
        fine_tuned_model="adapters/support/v1/1",
        artifacts={
            "adapter": "adapters/support/v1/1",
            "files": [{"name": "adapter_model.safetensors", "size": 10}],
        },
    )
    model = register_finetuned_model(job=job)
    assert model.kind == ModelKind.LOCAL_ADAPTER and model.is_local
    assert (model.base.provider, model.base.name) == ("local", "/models/tiny")
    assert model.files[0]["name"] == "adapter_model.safetensors"
    assert (
        resolve_model(f"job:{job.pk}", dataset=dataset) == model
        and register_finetuned_model(job=job) == model
    )
