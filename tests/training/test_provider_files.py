"""Each provider gets the file it accepts: OpenAI-shaped lines converted for Together and
Fireworks (mapped where a mapping exists, refused naming the line where none does), preference
outputs kept to exactly one assistant message, and Together's own SDK check run on the file."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from curation.models import DatasetVersion
from tests.factories import FineTuneJobFactory, built_version, finetune_example
from tests.training.conftest import FakeClock
from tests.training.test_hosted_providers import MODELS, hosted  # noqa: F401
from training.models import FineTuneJob
from training.providers import PermanentProviderError
from training.providers.files import FileRefused, convert_file, convert_lines
from training.providers.together_provider import TogetherProvider
from training.services import LaunchError, create_finetune_job, drive_finetune
from training.simulator import SimulatorServer

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def tool_example(index: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "developer", "content": "You look invoices up."},
            {"role": "user", "content": f"Invoice {index}?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{index}",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": json.dumps({"n": index})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": f"call_{index}", "content": "40 euros"},
            {"role": "assistant", "content": "It totals 40 euros."},
        ],
        "tools": TOOLS,
        "parallel_tool_calls": False,
    }


def pair(chosen: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "input": {
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "How do I store rice?"},
            ],
            "parallel_tool_calls": True,
        },
        "preferred_output": chosen,
        "non_preferred_output": rejected,
    }


def lines(*records: Any) -> list[bytes]:
    return [(json.dumps(r) if not isinstance(r, str) else r).encode() + b"\n" for r in records]


def converted(kind: str, *records: Any, preference: bool = False) -> tuple[Any, list[Any]]:
    sink = io.BytesIO()
    conversion = convert_lines(
        kind, lines(*records), name="train.jsonl", preference=preference, sink=sink
    )
    return conversion, [json.loads(line) for line in sink.getvalue().splitlines()]


def test_together_gets_developer_as_system_and_no_parallel_tool_calls_keeping_tools() -> None:
    conversion, out = converted("together", tool_example(1))

    assert conversion.problems == []
    (line,) = out
    assert [m["role"] for m in line["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert "parallel_tool_calls" not in line
    assert line["tools"] == TOOLS
    assert conversion.summary()["mapped"] == {
        "developer → system": 1,
        "parallel_tool_calls dropped": 1,
    }


def test_fireworks_refuses_tool_messages_naming_the_line_and_role() -> None:
    conversion, out = converted("fireworks", finetune_example(0), tool_example(1))

    assert out == [finetune_example(0)]
    assert len(conversion.problems) == 1
    assert conversion.problems[0].startswith("train.jsonl line 2: ")
    assert "tools" in conversion.problems[0] or "tool" in conversion.problems[0]


def test_fireworks_takes_plain_chat_with_developer_mapped_to_system() -> None:
    record = {
        "messages": [{"role": "developer", "content": "Hi"}, *finetune_example(3)["messages"][1:]]
    }
    conversion, out = converted("fireworks", record)

    assert conversion.problems == []
    assert out[0]["messages"][0] == {"role": "system", "content": "Hi"}


def test_a_role_with_no_counterpart_is_refused_by_name() -> None:
    record = {"messages": [{"role": "function", "name": "f", "content": "1"}]}
    conversion, _ = converted("together", record)

    assert conversion.problems == [
        "train.jsonl line 1: messages[0] has role 'function'; Together AI takes assistant, "
        "system, tool, user and nothing maps 'function' onto them"
    ]


def test_preference_outputs_keep_exactly_one_non_empty_assistant_message_else_left_out() -> None:
    good = pair(
        [{"role": "assistant", "content": "Airtight, cool, dry."}],
        [{"role": "assistant", "content": "In the sun."}],
    )
    two = pair(
        [{"role": "assistant", "content": "Airtight."}, {"role": "assistant", "content": "Dry."}],
        [{"role": "assistant", "content": "In the sun."}],
    )
    empty = pair(
        [{"role": "assistant", "content": "Airtight."}], [{"role": "assistant", "content": " "}]
    )
    conversion, out = converted("together", good, two, empty, preference=True)

    assert conversion.problems == []
    assert len(out) == 1
    assert out[0]["input"]["messages"][0]["role"] == "system"
    assert "parallel_tool_calls" not in out[0]["input"]
    assert conversion.summary()["excluded"] == [
        {
            "line": 2,
            "reason": "preferred_output holds 2 messages; exactly one assistant message is taken",
        },
        {"line": 3, "reason": "non_preferred_output is an empty assistant message"},
    ]


def test_a_file_with_no_line_left_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "train.jsonl"
    source.write_bytes(b"".join(lines(pair([], []))))
    with pytest.raises(FileRefused, match="no line can be given to Fireworks AI"):
        convert_file(
            "fireworks", source, tmp_path / "out.jsonl", name="train.jsonl", preference=True
        )


def test_togethers_own_sdk_check_refuses_a_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(finetune_example(0)) + "\n[1, 2]\n", encoding="utf-8")
    provider = TogetherProvider(api_key="fake-key", base_url="http://127.0.0.1:9")

    with pytest.raises(PermanentProviderError, match="line 2") as caught:
        provider.check_file(path)
    assert caught.value.code == "invalid_file"


def with_train_lines(version: DatasetVersion, records: list[dict[str, Any]]) -> DatasetVersion:
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    stored = default_storage.save(f"test-snapshots/{version.pk}/train.jsonl", ContentFile(data))
    files = dict(version.files)
    files["train.jsonl"] = {
        **files["train.jsonl"],
        "name": stored,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    # Built versions refuse save(); an UPDATE stands in for a build that wrote these lines.
    DatasetVersion.objects.filter(pk=version.pk).update(files=files)
    version.refresh_from_db()
    return version


@pytest.mark.django_db
def test_a_fireworks_launch_with_tool_messages_is_refused_before_anything_is_sent(
    hosted: SimulatorServer,  # noqa: F811
    dataset: Any,
) -> None:
    version = with_train_lines(
        built_version(dataset, train=12, validation=3),
        [finetune_example(i) for i in range(11)] + [tool_example(11)],
    )
    with pytest.raises(LaunchError) as caught:
        create_finetune_job(
            version=version, provider="fireworks", base_model=MODELS["fireworks"], user=None
        )
    assert any(
        problem.startswith(f"{version.download_name('train.jsonl')} line 12: ")
        for problem in caught.value.problems
    )
    assert FineTuneJob.objects.count() == 0
    assert hosted.state.files == []


@pytest.mark.django_db
def test_together_trains_on_the_converted_file_and_the_job_says_what_was_mapped(
    hosted: SimulatorServer,  # noqa: F811
    clock: FakeClock,
    dataset: Any,
) -> None:
    version = with_train_lines(
        built_version(dataset, train=12, validation=3),
        [finetune_example(i) for i in range(11)] + [tool_example(11)],
    )
    job = create_finetune_job(
        version=version,
        provider="together",
        base_model=MODELS["together"],
        user=None,
        enqueue=False,
    )
    job = drive_finetune(job_id=job.pk, sleep=clock.advance)

    assert job.remote_training_file
    sent = hosted.state.file_content(job.remote_training_file).decode().splitlines()
    last = json.loads(sent[-1])
    assert last["messages"][0]["role"] == "system"
    assert "parallel_tool_calls" not in last
    assert job.uploads["train.jsonl"]["mapped"] == {
        "developer → system": 1,
        "parallel_tool_calls dropped": 1,
    }
    assert job.uploads["train.jsonl"]["lines"] == 12


@pytest.mark.django_db
def test_the_job_page_lists_what_was_mapped_and_left_out(dataset: Any, admin_user: Any) -> None:
    job = FineTuneJobFactory(dataset=dataset, provider="together", provider_kind="together")
    job.record_upload(
        "train.jsonl",
        {
            "lines": 11,
            "mapped": {"developer → system": 2},
            "excluded": [{"line": 4, "reason": "preferred_output holds 2 messages"}],
        },
    )
    client = Client()
    client.force_login(admin_user)

    html = client.get(job.get_absolute_url()).content.decode()

    assert "train.jsonl as sent" in html
    assert "11 lines; developer → system (2); 1 left out" in html
    assert "line 4: preferred_output holds 2 messages" in html
