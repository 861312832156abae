"""Every field of the real formats is kept: LLaMA-Factory's ShareGPT and Alpaca, OpenAI's
weight and name, and record-level fields without a mapping (as metadata, listed)."""

from __future__ import annotations

import json
import random

import pytest

from curation.models import Conversation, ImportOutcome, JobStatus
from tests.conftest import DATA, REFERENCE
from tests.curation.import_helpers import errors_by_line, import_file

pytestmark = pytest.mark.django_db


def test_llamafactory_sharegpt_tools_string_becomes_openai_tools_and_system_a_message(dataset):
    batch = import_file(dataset, DATA / "llamafactory_sharegpt_tools.json")
    assert batch.detected_format == "sharegpt"
    assert (batch.imported, batch.invalid) == (3, 1)
    first = Conversation.objects.get(batch=batch, source_line=1)  # the array's first item
    assert first.original[0] == {
        "role": "system",
        "content": "You are a helpful assistant with access to functions.",
    }
    assert first.tools == [
        {
            "type": "function",
            "function": {
                "name": "get_exchange_rate",
                "description": "Get the exchange rate between two currencies",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "base_currency": {
                            "type": "string",
                            "description": "The currency to convert from",
                        },
                        "target_currency": {
                            "type": "string",
                            "description": "The currency to convert to",
                        },
                    },
                    "required": ["base_currency", "target_currency"],
                },
            },
        }
    ]
    call = first.original[2]["tool_calls"][0]
    assert call["function"]["name"] == "get_exchange_rate"
    assert json.loads(call["function"]["arguments"]) == {
        "base_currency": "USD",
        "target_currency": "EUR",
    }
    assert first.original[3]["tool_call_id"] == call["id"]
    assert "tools" not in first.metadata and "system" not in first.metadata
    # The definitions count towards the conversation's tokens.
    assert first.token_count > 60


def test_parallel_function_calls_pair_each_observation_with_its_call(dataset):
    batch = import_file(dataset, DATA / "llamafactory_sharegpt_tools.json")
    second = Conversation.objects.get(batch=batch, source_line=next_line(batch, 1))
    calls = second.original[1]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["search_recipes", "get_weather"]
    assert [m["tool_call_id"] for m in second.original[2:4]] == [calls[0]["id"], calls[1]["id"]]
    assert [t["function"]["name"] for t in second.tools] == ["search_recipes", "get_weather"]
    assert second.metadata == {"source": "glaive"}


def next_line(batch, index):  # type: ignore[no-untyped-def]
    lines = sorted(Conversation.objects.filter(batch=batch).values_list("source_line", flat=True))
    return lines[index]


def test_empty_tools_string_means_no_tools_and_bad_tools_json_names_the_field(dataset):
    batch = import_file(dataset, DATA / "llamafactory_sharegpt_tools.json")
    third = Conversation.objects.get(batch=batch, source_line=next_line(batch, 2))
    assert third.tools is None
    assert third.original[0] == {"role": "system", "content": "You are a cheerful assistant."}
    ((field, reason),) = errors_by_line(batch).values()
    assert field == "tools" and "tools is not valid JSON" in reason


def test_alpaca_system_and_history_become_earlier_turns(dataset):
    batch = import_file(dataset, DATA / "alpaca_system_history.json")
    assert (batch.imported, batch.invalid) == (2, 1)
    first = Conversation.objects.filter(batch=batch).order_by("source_line").first()
    assert [m["role"] for m in first.original] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert first.original[1]["content"] == "How many moons does Jupiter have?"
    assert first.original[4]["content"] == "Saturn has 146 known moons."
    assert first.original[-1]["content"] == "Mars has two moons: Phobos and Deimos."
    assert first.metadata == {}
    second = Conversation.objects.filter(batch=batch).order_by("source_line").last()
    assert second.metadata == {"category": "translation", "lang": "fr"}
    ((field, reason),) = errors_by_line(batch).values()
    assert field == "history[0]" and "pair" in reason


def test_openai_weight_and_name_are_kept_and_unknown_message_keys_stay_invalid(dataset):
    batch = import_file(dataset, DATA / "openai_weight_name.jsonl")
    assert (batch.imported, batch.invalid) == (1, 1)
    kept = Conversation.objects.get(batch=batch)
    assert kept.original[1]["name"] == "alice"
    assert kept.original[2]["weight"] == 0 and kept.original[4]["weight"] == 1
    assert kept.original[4]["name"] == "marv"
    assert kept.metadata == {"ticket": "T-1", "split": "train"}
    assert errors_by_line(batch)[2] == ("messages[1].loss_mask", "unknown key 'loss_mask'")


def test_legacy_functions_are_kept_as_tools(dataset, tmp_path):
    path = tmp_path / "functions.jsonl"
    path.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Weather?"},
                    {"role": "assistant", "content": "Sunny."},
                ],
                "functions": [{"name": "weather", "parameters": {"type": "object"}}],
            }
        )
    )
    batch = import_file(dataset, path)
    stored = Conversation.objects.get(batch=batch)
    assert stored.tools == [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    ]


def test_unmapped_record_fields_are_kept_and_counted_per_line(dataset, settings, tmp_path):
    settings.CURATOR_IMPORT_BATCH_SIZE = 2
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Q{n}"},
                {"role": "assistant", "content": f"A{n}"},
            ],
            "id": n,
            **({"source": "web"} if n % 2 else {}),
        }
        for n in range(5)
    ]
    path = tmp_path / "extra.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    batch = import_file(dataset, path)
    assert batch.unmapped_fields == {"id": 5, "source": 2}
    assert Conversation.objects.get(batch=batch, source_line=2).metadata == {
        "id": 1,
        "source": "web",
    }
    assert batch.as_summary()["unmapped_fields"] == {"id": 5, "source": 2}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("llamafactory_v1.jsonl", "LLaMA-Factory v1 data"),
    ],
)
def test_files_not_importable_yet_are_named_once_instead_of_an_error_per_line(dataset, name, kind):
    batch = import_file(dataset, DATA / name)
    assert batch.status == JobStatus.FAILED
    assert batch.outcome == ImportOutcome.FAILED
    assert f"this is {kind}" in batch.error and name in batch.error
    assert batch.line_errors.count() == 0
    assert batch.imported == 0


def test_not_importable_kinds_are_refused_even_with_an_explicit_format(dataset):
    batch = import_file(dataset, DATA / "llamafactory_v1.jsonl", fmt="openai")
    assert batch.status == JobStatus.FAILED
    assert "this is LLaMA-Factory v1 data" in batch.error
    assert batch.line_errors.count() == 0


def test_a_binary_file_named_jsonl_is_not_a_text_file(dataset, tmp_path):
    path = tmp_path / "photo.jsonl"
    path.write_bytes(random.Random(7).randbytes(20000))
    batch = import_file(dataset, path)
    assert batch.status == JobStatus.FAILED
    assert "not a text file" in batch.error
    assert "header" not in batch.error


def test_fastchat_reference_file_keeps_ids_as_counted_metadata(dataset):
    batch = import_file(dataset, REFERENCE / "fastchat_dummy_conversation_sharegpt.json")
    assert batch.outcome == ImportOutcome.SUCCEEDED
    assert batch.unmapped_fields == {"id": 500}
