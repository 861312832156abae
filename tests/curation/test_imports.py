from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from django.core.files import File
from django.utils import timezone

from curation.models import Conversation, ImportBatch, ImportOutcome, JobStatus
from curation.services import imports as import_service
from curation.services.imports import create_import_batch, run_import_job
from curation.token_count import count_conversations, get_encoding
from tests.conftest import DATA, REFERENCE
from tests.curation.import_helpers import errors_by_line, import_file

pytestmark = pytest.mark.django_db


def test_every_openai_error_is_reported_with_line_and_reason_and_good_lines_imported(
    dataset, settings
):
    settings.CURATOR_MAX_LINE_BYTES = 2000
    batch = import_file(dataset, DATA / "openai_errors.jsonl")

    assert batch.status == JobStatus.SUCCEEDED
    assert batch.outcome == ImportOutcome.PARTIAL
    assert batch.detected_format == "openai"
    assert (batch.read, batch.imported, batch.invalid, batch.duplicates) == (18, 2, 16, 0)
    errors = errors_by_line(batch)
    expected = {
        2: "not valid JSON",
        3: "not a JSON object",
        4: "messages is empty",
        5: "missing messages",
        6: "message has no role",
        7: "message has no content",
        8: "unknown key 'mood'",
        9: "unknown role 'customer'",
        10: "content must be a string, got a number",
        11: "content is null",
        12: "no assistant message",
        13: "weight must be 0 or 1",
        14: "arguments must be a JSON string",
        15: "tool message without tool_call_id",
        16: "invalid UTF-8 at byte offset",
        17: "over the size limit of 2,000 bytes",
    }
    assert set(errors) == set(expected)
    for line, text in expected.items():
        assert text in errors[line][1], (line, errors[line])
    assert errors[8][0] == "messages[1].mood"
    assert errors[14][0] == "messages[2].tool_calls[0].function.arguments"

    with_tools = Conversation.objects.get(dataset=dataset, source_line=18)
    assert with_tools.tools[0]["function"]["name"] == "lookup"
    assert with_tools.parallel_tool_calls is False
    assert with_tools.metadata == {"ticket": "T-9"}
    assert with_tools.original[4]["weight"] == 0


def test_invalid_utf8_reports_the_byte_offset_in_the_file(dataset, settings):
    settings.CURATOR_MAX_LINE_BYTES = 2000
    batch = import_file(dataset, DATA / "openai_errors.jsonl")
    raw = (DATA / "openai_errors.jsonl").read_bytes()
    offset = raw.index(b"caf\xe9") + 3
    assert f"byte offset {offset}" in errors_by_line(batch)[16][1]


def test_bom_and_crlf_are_accepted(dataset):
    batch = import_file(dataset, DATA / "openai_ok.jsonl")
    assert (batch.imported, batch.invalid) == (3, 0)
    named = Conversation.objects.get(dataset=dataset, source_line=2)
    assert named.original[2]["name"] == "agent_smith"
    parts = Conversation.objects.get(dataset=dataset, source_line=3)
    assert "no_system_message" in parts.flags


@pytest.mark.parametrize(
    ("name", "fmt", "imported", "invalid_lines"),
    [
        ("prompt_completion.jsonl", "prompt_completion", 2, {3}),
        ("sharegpt.json", "sharegpt", 2, {3}),  # JSON arrays: the item's number
        ("sharegpt.jsonl", "sharegpt", 2, {3}),
        ("alpaca.json", "alpaca", 2, {3}),
        ("alpaca.jsonl", "alpaca", 2, {3}),
        ("chats.csv", "csv", 2, {5}),
        ("prompt_completion.csv", "csv", 2, set()),
    ],
)
def test_formats_are_detected_and_normalized_to_chat_messages(
    dataset, name, fmt, imported, invalid_lines
):
    batch = import_file(dataset, DATA / name)
    assert batch.status == JobStatus.SUCCEEDED, batch.error
    assert batch.detected_format == fmt
    assert batch.imported == imported
    assert set(errors_by_line(batch)) == invalid_lines
    for conversation in Conversation.objects.filter(batch=batch):
        roles = [message["role"] for message in conversation.original]
        assert "assistant" in roles
        assert conversation.token_count > 0


def test_sharegpt_function_calls_become_tool_calls(dataset):
    batch = import_file(dataset, DATA / "sharegpt.jsonl")
    conversation = Conversation.objects.get(batch=batch, source_line=2)
    call = conversation.original[1]["tool_calls"][0]
    assert call["function"] == {"name": "weather", "arguments": '{"city": "Paris"}'}
    assert conversation.original[2] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": '{"temp": 21}',
    }
    assert conversation.metadata == {"id": "a2"}
    assert "unknown role 'robot'" in errors_by_line(batch)[3][1]


def test_csv_multiline_cells_and_extra_columns(dataset):
    batch = import_file(dataset, DATA / "chats.csv")
    second = Conversation.objects.get(batch=batch, source_line=3)
    assert second.original[-1]["content"] == "Refunds take 5 days.\nReally."
    assert second.metadata == {"agent": "bob"}
    assert "missing user" in errors_by_line(batch)[5][1]


def test_csv_without_known_columns_fails_naming_the_header(dataset):
    batch = import_file(dataset, DATA / "bad_header.csv", fmt="csv")
    assert batch.status == JobStatus.FAILED
    assert "bad_header.csv" in batch.error and "question, answer" in batch.error


def test_gzip_files_are_read(dataset, tmp_path):
    packed = tmp_path / "sharegpt.json.gz"
    packed.write_bytes(gzip.compress((DATA / "sharegpt.json").read_bytes()))
    batch = import_file(dataset, packed)
    assert (batch.detected_format, batch.imported) == ("sharegpt", 2)


def test_duplicates_within_the_file_and_against_the_dataset_are_counted_not_inserted(
    dataset, tmp_path
):
    line = json.dumps(
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    )
    other = json.dumps(
        {"messages": [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Ciao"}]}
    )
    path = tmp_path / "dups.jsonl"
    path.write_text(f"{line}\n{line}\n{other}\n")
    first = import_file(dataset, path)
    assert (first.imported, first.duplicates) == (2, 1)
    again = import_file(dataset, path)
    assert (again.imported, again.duplicates) == (0, 3)
    assert Conversation.objects.filter(dataset=dataset).count() == 2


def test_warnings_for_missing_system_user_and_token_limit(dataset, tmp_path):
    dataset.token_limit = 20
    dataset.save()
    path = tmp_path / "warn.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "assistant", "content": "Unprompted"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "word " * 50},
                {"role": "assistant", "content": "ok"},
            ]
        },
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    batch = import_file(dataset, path)
    flags = {c.source_line: set(c.flags) for c in Conversation.objects.filter(batch=batch)}
    format_flags = {"no_system_message", "no_user_message", "over_token_limit"}
    assert flags[1] & format_flags == {"no_system_message"}
    assert flags[2] & format_flags == {"no_user_message"}
    assert flags[3] & format_flags == {"over_token_limit"}
    assert batch.warnings == 3


def test_token_counts_follow_the_cookbook_and_the_packaged_encoding_is_the_real_one():
    encoding = get_encoding("o200k_base")
    assert encoding.encode("hello world") == [24912, 2375]
    assert encoding.n_vocab == 200019
    messages = [
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": "hello world"},
    ]
    ((total, assistant),) = count_conversations([(messages, None)])
    # per message: 3 + role (1) + content (2); plus 3 priming tokens.
    assert (total, assistant) == (3 + 2 * (3 + 1 + 2), 2)


def test_cookbook_file_gives_five_conversations_and_the_notebook_warnings(dataset):
    batch = import_file(dataset, REFERENCE / "openai_cookbook_toy_chat_fine_tuning.jsonl")
    assert (batch.imported, batch.invalid) == (5, 0)
    flags = [c.flags for c in Conversation.objects.filter(batch=batch)]
    assert sum("no_system_message" in f for f in flags) == 1
    assert sum("no_user_message" in f for f in flags) == 1


def test_sharegpt_reference_file_imports_500(dataset):
    batch = import_file(dataset, REFERENCE / "fastchat_dummy_conversation_sharegpt.json")
    assert (batch.detected_format, batch.imported, batch.invalid) == ("sharegpt", 500, 0)


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing after it runs, not even `except Exception` handlers."""


def test_a_retry_after_a_killed_worker_completes_without_duplicates(
    dataset, settings, tmp_path, monkeypatch
):
    settings.CURATOR_IMPORT_BATCH_SIZE = 10
    path = tmp_path / "many.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {n}"},
                {"role": "assistant", "content": f"Answer {n}"},
            ]
        }
        for n in range(95)
    ]
    rows.insert(40, {"messages": "broken"})
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    with path.open("rb") as handle:
        batch = create_import_batch(
            dataset=dataset,
            uploaded=File(handle, name="many.jsonl"),
            original_name="many.jsonl",
            fmt="auto",
            user=None,
            enqueue=False,
        )
    real_write = import_service._write_chunk
    calls = {"n": 0}

    def dying_write(batch, prepared, writes):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4:
            raise WorkerKilled
        return real_write(batch, prepared, writes)

    monkeypatch.setattr(import_service, "_write_chunk", dying_write)
    with pytest.raises(WorkerKilled):
        run_import_job(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == JobStatus.RUNNING and batch.read == 30

    # The heartbeat stops; the row is found lost and offered for retry.
    ImportBatch.objects.filter(pk=batch.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1)
    )
    batch.refresh_lost()
    assert batch.status == JobStatus.FAILED and "worker lost" in batch.error

    monkeypatch.setattr(import_service, "_write_chunk", real_write)
    ImportBatch.objects.filter(pk=batch.pk).update(status=JobStatus.QUEUED)
    run_import_job(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == JobStatus.SUCCEEDED
    assert (batch.read, batch.imported, batch.invalid, batch.duplicates) == (96, 95, 1, 0)
    assert Conversation.objects.filter(batch=batch).count() == 95
    assert list(batch.line_errors.values_list("line", flat=True)) == [41]
    assert batch.attempts == 2


def test_an_empty_file_fails_with_a_clear_reason(dataset, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    batch = import_file(dataset, path)
    assert batch.status == JobStatus.FAILED
    assert "empty.jsonl" in batch.error and "empty" in batch.error


def test_uploaded_file_is_kept_with_its_sha256(dataset):
    batch = import_file(dataset, DATA / "alpaca.json")
    import hashlib

    assert batch.sha256 == hashlib.sha256((DATA / "alpaca.json").read_bytes()).hexdigest()
    assert Path(batch.file.path).read_bytes() == (DATA / "alpaca.json").read_bytes()
    assert shutil.disk_usage(Path(batch.file.path).parent)


def test_a_nul_character_is_refused_for_its_line_only_and_backslashes_survive(dataset, tmp_path):
    rows = [
        {
            "messages": [
                {"role": "user", "content": "bad\u0000byte"},
                {"role": "assistant", "content": "ok"},
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": 'C:\\temp\\new "quoted"\ttab\nline and a literal \\u0000',
                },
                {"role": "assistant", "content": "Ünïcödé ✓ 日本"},
            ],
            "ticket": "a\\b",
        },
    ]
    path = tmp_path / "nul.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    batch = import_file(dataset, path)
    assert (batch.imported, batch.invalid) == (1, 1)
    assert "NUL character" in errors_by_line(batch)[1][1]
    stored = Conversation.objects.get(batch=batch)
    assert stored.original == rows[1]["messages"]
    assert stored.metadata == {"ticket": "a\\b"}


def test_cli_reports_an_unexpected_failure_in_one_line(dataset, monkeypatch):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    def broken(batch, prepared, writes):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(import_service, "_write_chunk", broken)
    with pytest.raises(CommandError) as raised:
        call_command("import_conversations", "--dataset", dataset.slug, str(DATA / "alpaca.jsonl"))
    assert "RuntimeError: disk on fire" in str(raised.value)
    assert "\n" not in str(raised.value)
