"""Stream records out of an uploaded file, whatever its format, without loading it whole.

`iter_records` yields one `SourceRecord` per conversation in the file: the line it starts
on, the normalized conversation, or the reason it could not be read. Memory is bounded by
`Limits`, never by the input: a line (a CSV row, a JSON array item) over the line limit is
skipped without being held, and reading stops with a final record once the decompressed
file passes the file limit. A truncated or corrupt compressed file ends the same way, after
the last line that could be read. Only a file that cannot be read at all (binary, empty, an
unknown format, a kind of data not imported yet) raises `ImportFileError`.
"""

from curation.importers.detect import check_supported, detect_format
from curation.importers.jsonl import RawLine, iter_raw_lines, parse_line, record_from_line
from curation.importers.read import is_json_array, iter_records
from curation.importers.records import (
    READERS,
    CountingReader,
    ImportFileError,
    Limits,
    Source,
    SourceRecord,
    open_binary,
)

__all__ = [
    "READERS",
    "CountingReader",
    "ImportFileError",
    "Limits",
    "RawLine",
    "Source",
    "SourceRecord",
    "check_supported",
    "detect_format",
    "is_json_array",
    "iter_raw_lines",
    "iter_records",
    "open_binary",
    "parse_line",
    "record_from_line",
]
