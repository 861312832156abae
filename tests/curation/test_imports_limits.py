"""Memory is bounded by settings, never by the input, and one bad line never costs the
others: over-long lines and rows, deep nesting, truncated or corrupt compressed files,
bad bytes in a CSV row, and the per-chunk and per-file limits."""

from __future__ import annotations

import gzip
import json

import pytest

from curation.models import Conversation, ImportBatch, ImportOutcome, JobStatus
from curation.services import import_chunks
from curation.services import imports as import_service
from tests.curation.import_helpers import errors_by_line, import_file

pytestmark = pytest.mark.django_db


def chat(n: int, text: str = "") -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Question {n} {text}"},
            {"role": "assistant", "content": f"Answer {n}"},
        ]
    }


def jsonl(rows) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def test_an_over_long_csv_row_is_reported_by_line_and_the_others_import(
    dataset, settings, tmp_path
):
    settings.CURATOR_MAX_LINE_BYTES = 1000
    path = tmp_path / "big.csv.gz"
    body = (
        f'user,assistant\nHello,Hi there\n{"x" * 50_000},too long\n"Multi\nline",Fine\nBye,Ciao\n'
    )
    path.write_bytes(gzip.compress(body.encode()))
    batch = import_file(dataset, path)
    assert batch.detected_format == "csv"
    assert (batch.imported, batch.invalid) == (3, 1)
    assert "over the size limit of 1,000 bytes" in errors_by_line(batch)[3][1]
    assert sorted(
        Conversation.objects.filter(batch=batch).values_list("source_line", flat=True)
    ) == [2, 4, 6]
    assert batch.outcome == ImportOutcome.PARTIAL


def test_invalid_utf8_in_a_csv_data_row_names_that_row_not_the_header(dataset, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"user,assistant\nHello,Hi\ncaf\xe9,Oui\nBye,Ciao\n")
    batch = import_file(dataset, path)
    errors = errors_by_line(batch)
    assert set(errors) == {3}
    assert "invalid UTF-8 in this row" in errors[3][1] and errors[3][0] == "user"
    assert "header" not in errors[3][1]
    assert batch.imported == 2


def test_a_line_nested_100000_levels_deep_is_reported_and_the_rest_imported_also_on_retry(
    dataset, tmp_path
):
    deep = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = tmp_path / "deep.jsonl"
    path.write_bytes(jsonl([chat(1), deep, chat(3)]))
    batch = import_file(dataset, path)
    assert batch.status == JobStatus.SUCCEEDED
    assert (batch.imported, batch.invalid) == (2, 1)
    assert "nested too deeply" in errors_by_line(batch)[2][1]
    # Retry runs the same file again, to the same end.
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=JobStatus.QUEUED, read=0, imported=0, invalid=0, duplicates=0
    )
    import_service.run_import_job(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == JobStatus.SUCCEEDED and batch.invalid == 1


def test_a_deeply_nested_item_of_a_json_array_is_skipped_and_the_next_items_read(dataset, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    first = json.dumps(
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}
    )
    last = json.dumps(
        {"conversations": [{"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Ciao"}]}
    )
    path = tmp_path / "deep.json"
    path.write_text(f'[\n{first},\n{{"conversations": {deep}}},\n{last}\n]\n')
    batch = import_file(dataset, path)
    assert (batch.imported, batch.invalid) == (2, 1)
    assert "nested too deeply" in errors_by_line(batch)[2][1]  # the second item


def test_an_over_long_json_array_item_is_skipped_without_failing_the_file(
    dataset, settings, tmp_path
):
    settings.CURATOR_MAX_LINE_BYTES = 2000
    item = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}
    big = {
        "conversations": [{"from": "human", "value": "x\\" * 3000}, {"from": "gpt", "value": "]}"}]
    }
    path = tmp_path / "big.json"
    path.write_text(
        "[\n" + ",\n".join(json.dumps(x) for x in (item, big, dict(item, id=3))) + "\n]"
    )
    batch = import_file(dataset, path)
    assert (batch.imported, batch.invalid) == (1, 1)
    assert "over the size limit" in errors_by_line(batch)[2][1]  # the second item
    assert batch.duplicates == 1


def test_a_truncated_gzip_keeps_what_was_read_and_says_after_which_line(dataset, tmp_path):
    packed = gzip.compress(jsonl([chat(n, "padding " * 40) for n in range(200)]))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    batch = import_file(dataset, path)
    errors = batch.line_errors.order_by("-line")
    last = errors.first()
    assert "the compressed file is truncated after line" in last.reason
    stopped_after = int(last.reason.split("after line ")[1].split(";")[0])
    assert stopped_after > 10
    assert batch.imported >= stopped_after - 1
    assert batch.outcome == ImportOutcome.PARTIAL


def test_a_corrupt_gzip_keeps_what_was_read(dataset, tmp_path):
    packed = bytearray(gzip.compress(jsonl([chat(n, "padding " * 40) for n in range(200)])))
    middle = len(packed) // 2
    packed[middle : middle + 64] = b"\x00" * 64
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(bytes(packed))
    batch = import_file(dataset, path)
    assert batch.imported > 10
    assert any(
        "the compressed file is" in e.reason and "after line" in e.reason
        for e in batch.line_errors.all()
    )


def test_detection_reads_a_valid_first_line_longer_than_64_kb(dataset, tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(jsonl([chat(1, "word " * 30_000), chat(2)]))
    batch = import_file(dataset, path)
    assert batch.detected_format == "openai"
    assert batch.imported == 2


def test_chunks_are_cut_by_bytes_as_well_as_by_count(dataset, settings, tmp_path, monkeypatch):
    settings.CURATOR_IMPORT_CHUNK_BYTES = 3000
    sizes: list[int] = []
    real = import_chunks.prepare_chunk

    def spy(context, chunk, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(len(chunk))
        return real(context, chunk, **kwargs)

    monkeypatch.setattr(import_chunks, "prepare_chunk", spy)
    path = tmp_path / "many.jsonl"
    path.write_bytes(jsonl([chat(n, "y" * 900) for n in range(10)]))
    batch = import_file(dataset, path)
    assert batch.imported == 10
    assert max(sizes) <= 4 and sum(sizes) == 10


def test_reading_stops_at_the_file_limit_keeping_the_lines_before(dataset, settings, tmp_path):
    settings.CURATOR_IMPORT_MAX_FILE_BYTES = 2000
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl([chat(n, "z" * 100) for n in range(100)])))
    batch = import_file(dataset, path)
    assert 5 < batch.imported < 20
    last = batch.line_errors.order_by("-line").first()
    assert "over the size limit of 2,000 bytes once decompressed" in last.reason
    assert "CURATOR_IMPORT_MAX_FILE_BYTES" in last.reason


def test_bad_import_limits_are_reported_by_system_checks(settings):
    from curation.checks import check_import_limits

    settings.CURATOR_IMPORT_CHUNK_BYTES = 0
    settings.CURATOR_IMPORT_MAX_FILE_BYTES = 1000
    problems = check_import_limits()
    assert [p.id for p in problems] == ["curation.E110", "curation.W110"]
    assert "CURATOR_IMPORT_CHUNK_BYTES" in problems[0].msg
