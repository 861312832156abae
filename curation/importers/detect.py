"""Which format a file holds, from its first bytes and records; files that cannot be
imported at all (binary, empty, unknown, a kind of data not imported yet) are refused here."""

from __future__ import annotations

from typing import Any

from curation.importers.json_array import array_values
from curation.importers.jsonl import jsonl_values
from curation.importers.records import (
    BOM,
    COMPRESSION_ERRORS,
    ImportFileError,
    Limits,
    Position,
    Source,
    SourceRecord,
    open_binary,
)
from curation.preferences import PREFERENCE_FORMAT, preference_kind
from curation.validation import unsupported_kind

SNIFF_BYTES = 8192
# How far detection reads to find one record it knows (a first line may be long).
DETECT_LINES = 200


def _classify_object(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    if preference_kind(record):
        return PREFERENCE_FORMAT
    if "messages" in record:
        return "openai"
    if "conversations" in record or "conversation" in record:
        return "sharegpt"
    if "instruction" in record and "output" in record:
        return "alpaca"
    if "prompt" in record and "completion" in record:
        return "prompt_completion"
    return None


def _not_supported(kind: str) -> ImportFileError:
    return ImportFileError(
        f"this is {kind}. Curator does not import this kind of data yet; "
        "import supervised chat data (OpenAI messages, ShareGPT, Alpaca, CSV) instead"
    )


def _looks_binary(sample: bytes) -> str | None:
    nul = sample.find(b"\x00")
    if nul >= 0:
        return f"a NUL byte at offset {nul}"
    text = sample.decode("utf-8", errors="replace")
    odd = sum(
        1 for char in text if char == "\ufffd" or (char < " " and char not in "\t\n\r\f\v\x1b")
    )
    if text and odd / len(text) > 0.05:
        return f"{odd} of the first {len(text)} characters are not text"
    return None


def _read_sample(path: Source) -> bytes:
    stream, _ = open_binary(path)
    with stream:
        try:
            return stream.read(SNIFF_BYTES)
        except COMPRESSION_ERRORS as error:
            raise ImportFileError(
                f"not a readable gzip file ({error}); nothing could be read"
            ) from None


def detect_format(path: Source, *, original_name: str = "", limits: Limits) -> str:
    """The file's format, from its content; ImportFileError when it cannot be imported."""
    sample = _read_sample(path)
    if sample.startswith(BOM):
        sample = sample[len(BOM) :]
    if not sample.strip() and len(sample) < SNIFF_BYTES:
        raise ImportFileError("the file is empty")
    binary = _looks_binary(sample)
    if binary:
        raise ImportFileError(f"not a text file ({binary}); expected JSON Lines, JSON or CSV")
    text = sample.lstrip()
    name = (original_name or str(path)).lower().removesuffix(".gz")
    if text[:1] in (b"[", b"{"):
        stream, _ = open_binary(path)
        with stream:
            values = (
                array_values(stream, limits, Position())
                if text[:1] == b"["
                else jsonl_values(stream, limits, Position())
            )
            try:
                for number, (_, _, value) in enumerate(values):
                    if number >= DETECT_LINES:
                        break
                    if isinstance(value, SourceRecord):
                        continue
                    kind = unsupported_kind(value)
                    if kind:
                        raise _not_supported(kind)
                    found = _classify_object(value)
                    if found:
                        return found
            except COMPRESSION_ERRORS:
                pass
        where = "first item of the JSON array" if text[:1] == b"[" else "first lines"
        raise ImportFileError(
            f"the {where} hold no conversation this tool knows "
            "(expected messages, conversations, instruction/output or prompt/completion keys)"
        )
    if name.endswith(".csv") or b"," in text.split(b"\n", 1)[0]:
        return "csv"
    raise ImportFileError("unknown format: not JSON Lines, a JSON array or CSV")


def check_supported(path: Source, *, limits: Limits) -> str | None:
    """For an explicitly chosen format: refuse binary files and kinds not imported yet.

    Returns "preference" for preference data, which is read as such whatever chat format was
    chosen (ShareGPT or Alpaca with chosen/rejected): its pairs are never dropped."""
    try:
        found = detect_format(path, limits=limits)
    except ImportFileError as error:
        text = str(error)
        if text.startswith(("this is ", "not a text file", "not a readable gzip", "the file is")):
            raise
        return None
    return found if found == PREFERENCE_FORMAT else None
