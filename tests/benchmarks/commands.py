"""The one command line the import benchmarks time: `manage.py import_conversations`.

Shared by `bench_cli_start.py`, `bench_import.py` and `bench_import_memory.py`, which each
run it in a child process of their own (to read its wall time, CPU time or peak RSS).
"""

from __future__ import annotations

import sys
from pathlib import Path


def import_argv(path: Path, slug: str, *, json_summary: bool = True) -> list[str]:
    """Import `path` into dataset `slug` (made if missing), from the checkout's root."""
    return [
        sys.executable,
        "manage.py",
        "import_conversations",
        "--dataset",
        slug,
        "--create",
        *(["--json"] if json_summary else []),
        str(path),
    ]
