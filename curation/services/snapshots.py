"""The earlier home of the version services, kept so that stored references and callers keep
working: everything now lives in `curation.services.versions`."""

from curation.services.versions.build import build_version, copy_members, run_build_job
from curation.services.versions.diff import (
    DiffEntry,
    diff_counts,
    diff_json_chunks,
    iter_diff,
)
from curation.services.versions.export import CHUNK_SIZE, dump_line
from curation.services.versions.files import (
    SnapshotError,
    TamperedFileError,
    cli_summary,
    delete_version,
    file_sha256,
    record_tampered,
    storage_name,
    verify_file,
)
from curation.services.versions.manifest import (
    MANIFEST_FORMAT,
    SPLIT_RULE,
    SYSTEM_PROMPT_POLICY,
)
from curation.services.versions.preview import (
    Preview,
    create_version,
    default_seed,
    normalize_filter,
    preview_version,
    select_examples,
    system_prompt_tokens,
)
from curation.services.versions.stats import SCORE_BUCKETS, TOKEN_BUCKETS

__all__ = [
    "CHUNK_SIZE",
    "MANIFEST_FORMAT",
    "SCORE_BUCKETS",
    "SPLIT_RULE",
    "SYSTEM_PROMPT_POLICY",
    "TOKEN_BUCKETS",
    "DiffEntry",
    "Preview",
    "SnapshotError",
    "TamperedFileError",
    "build_version",
    "cli_summary",
    "copy_members",
    "create_version",
    "default_seed",
    "delete_version",
    "diff_counts",
    "diff_json_chunks",
    "dump_line",
    "file_sha256",
    "iter_diff",
    "normalize_filter",
    "preview_version",
    "record_tampered",
    "run_build_job",
    "select_examples",
    "storage_name",
    "system_prompt_tokens",
    "verify_file",
]
