"""Contract tests for the Together provider against Together's published API description and
examples (tests/data/vendors/together, sources in its README), not against our simulator:
the create request the real SDK sends for our settings is validated against the request
schema of Together's OpenAPI spec, and the published response examples are read back
through the SDK by our parsers."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.training.capture import Captured, capture, vendor_fixture
from training.providers.base import METADATA_TAG
from training.providers.together_provider import N_EVALS, TogetherProvider

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
TAG = {METADATA_TAG: "0a1b2c3d-4e5f-0000-0000-000000000000"}
SDK_OWN_FIELDS = {"early_stopping_enabled"}
LISTED = vendor_fixture("together/list_fine_tunes.response.json")["data"][0]


def loosened(node: Any) -> Any:
    """Together's spec read as its own SDK reads it, where the spec contradicts itself:
    ``train_on_inputs`` is ``oneOf [boolean, "auto"]`` beside ``type: boolean`` (its own
    default "auto" fails that), and the linear and cosine ``lr_scheduler_args`` are a
    ``oneOf`` that both match the SDK's default cosine arguments (no discriminator). So a
    ``oneOf`` is read as ``anyOf`` and a ``type`` beside it is left to the ``oneOf``; the
    together 3.1.1 SDK, which sends "auto" and cosine arguments, is the source followed."""
    if isinstance(node, list):
        return [loosened(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: loosened(value) for key, value in node.items()}
    if "oneOf" in out:
        out["anyOf"] = out.pop("oneOf")
        out.pop("type", None)
    return out


def request_schema() -> dict[str, Any]:
    """The request body schema of POST /fine-tunes, with the components it refers to."""
    spec = vendor_fixture("together/openapi_post_fine_tunes.schema.json")
    return loosened({**spec["post_fine_tunes_request_body"], "components": spec["components"]})


def together_api(request: Any) -> tuple[int, Any] | None:
    path = request.url.path
    if path == "/v1/fine-tunes/models/limits":
        # Illustrative values (no published example); checked against the spec below.
        return 200, vendor_fixture("together_model_limits.json")
    if path == "/v1/fine-tunes/estimate-price":
        return 200, vendor_fixture("together/estimate_price.response.json")
    if path == "/v1/fine-tunes" and request.method == "POST":
        # The published list item is a FinetuneResponseTruncated, the create reply's type.
        return 200, LISTED
    if path == f"/v1/fine-tunes/{LISTED['id']}" or path.endswith("/cancel"):
        return 200, LISTED
    if path.endswith("/events"):
        return 200, vendor_fixture("together/list_events.response.json")
    if path.endswith("/metrics"):
        return 200, vendor_fixture("together/list_metrics.response.json")
    if path.endswith("/checkpoints"):
        return 200, vendor_fixture("together/list_checkpoints.response.json")
    return None


@pytest.fixture
def together(monkeypatch: Any) -> tuple[TogetherProvider, Captured]:
    captured = capture(monkeypatch, together_api)
    return TogetherProvider(api_key="fake-together-key"), captured


@pytest.mark.parametrize(
    ("method", "hyperparameters"),
    [
        ("supervised", {"n_epochs": 3, "batch_size": 16, "learning_rate": 2e-5}),
        ("supervised", {"lora_rank": 16, "lora_alpha": 32, "max_seq_length": 8192}),
        ("supervised", {"lora": False, "n_epochs": 1}),
        ("dpo", {"dpo_beta": 0.2, "lora_rank": 8, "lora_alpha": 16}),
    ],
)
def test_the_create_request_is_valid_under_togethers_published_request_schema(
    together: tuple[TogetherProvider, Captured], method: str, hyperparameters: dict[str, Any]
) -> None:
    provider, captured = together

    provider.create_job(
        model=MODEL,
        training_file="file-train",
        validation_file="file-valid",
        hyperparameters=hyperparameters,
        suffix="support",
        seed=7,
        metadata=TAG,
        method=method,
    )

    (sent,) = captured.bodies("POST", "/v1/fine-tunes")
    jsonschema.validate(sent, request_schema())
    # Every field is one the spec names, but the one the together 3.1.1 SDK adds on its own
    # (newer than the spec snapshot; we never set it).
    assert set(sent) - set(request_schema()["properties"]) <= SDK_OWN_FIELDS
    assert sent["training_method"]["method"] == ("dpo" if method == "dpo" else "sft")
    assert sent["training_type"]["type"] == (
        "Full" if hyperparameters.get("lora") is False else "Lora"
    )
    assert (sent["n_evals"], sent["random_seed"]) == (N_EVALS, 7)
    assert sent["suffix"].startswith("support-cur-")


def test_a_setting_the_schema_refuses_is_caught_by_the_schema_not_only_by_us() -> None:
    # The schema is a real oracle: a LoRA block without its alpha, or a method it does not
    # name, fails it (the create test above would fail the same way).
    schema = request_schema()
    base = {"training_file": "file-train", "model": MODEL}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**base, "training_type": {"type": "Lora", "lora_r": 8}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**base, "training_method": {"method": "ppo"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**base, "n_epochs": "two"}, schema)


def test_the_illustrative_model_limits_fixture_is_valid_under_togethers_schema() -> None:
    spec = vendor_fixture("together/openapi_model_limits.schema.json")
    schema = {"$ref": "#/components/schemas/FineTuneModelLimits", **spec}

    jsonschema.validate(vendor_fixture("together_model_limits.json"), schema)


def test_a_published_completed_job_reads_its_output_name_and_token_count(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, _ = together

    remote = provider.get_job(LISTED["id"])

    assert remote.status == "succeeded"
    assert remote.fine_tuned_model == "mynamespace/meta-llama/Llama-2-7b-hf-32162631"
    assert remote.trained_tokens == 850000
    assert remote.hyperparameters["n_epochs"] == 3
    assert remote.model == "meta-llama/Llama-2-7b-hf"
    # updated_at "2023-05-17T18:46:23.456Z" is when a finished job finished.
    assert remote.finished_at == 1684349183


def test_published_metrics_are_read_under_togethers_own_keys(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, _ = together

    rows = provider.metrics(LISTED["id"])

    assert rows == [{"step": 7, "train_loss": 0.5}, {"step": 14, "train_loss": 0.45}]


def test_published_events_and_metrics_make_one_event_per_step(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, _ = together

    events = provider.list_events(LISTED["id"])

    # The published event (step 123, level null) and a metrics event for each metrics row
    # that has no event of its own (steps 7 and 14): no step twice.
    steps = [event.data.get("step") for event in events]
    assert sorted(steps) == [7, 14, 123]
    assert len(set(steps)) == len(steps)
    assert events[0].id == "0" and events[0].level == "info"
    assert {event.id for event in events[1:]} == {"m7", "m14"}
    assert all(event.type == "metrics" for event in events[1:])


def test_published_checkpoints_are_read_by_step_and_path(
    together: tuple[TogetherProvider, Captured],
) -> None:
    provider, _ = together

    (checkpoint,) = provider.list_checkpoints(LISTED["id"])

    assert (checkpoint.step_number, checkpoint.fine_tuned_model_checkpoint) == (123, "<string>")


def test_the_create_and_cancel_replies_are_read_as_the_published_job(
    together: tuple[TogetherProvider, Captured],
) -> None:
    # Together's spec: FinetuneResponseTruncated is the reply of POST /fine-tunes, GET
    # /fine-tunes and POST /fine-tunes/{id}/cancel; the published list item is one.
    provider, captured = together

    created = provider.create_job(model=MODEL, training_file="file-train", metadata=TAG)
    provider.cancel(created.id)

    assert created.id == LISTED["id"]
    (cancel,) = [r for r in captured.requests if r.url.path.endswith("/cancel")]
    assert (cancel.method, cancel.url.path) == ("POST", f"/v1/fine-tunes/{LISTED['id']}/cancel")
    assert {r.url.host for r in captured.requests} == {"api.together.ai"}
