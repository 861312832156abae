"""Import memory benchmark: peak RSS stays bounded by settings, never by the input (issue 12).

Two hostile files, imported with the default limits by `manage.py import_conversations`
in its own process, then the follow-up quality job by a real RQ worker (burst):

1. a ~1 MB `.csv.gz` whose middle row is one 1 GB line (plus good rows around it);
2. 500 JSONL lines of ~3.9 MB each, gzipped.

Prints each peak RSS beside the 600 MB target, and checks that the over-long row is
reported by its line and that every line within the limits was imported.

    DEBUG=true .venv/bin/python tests/benchmarks/bench_import_memory.py [--lines 500] [--giant-mb 1024]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis
from commands import import_argv

ROOT = Path(__file__).resolve().parents[2]
BENCH_DB = "curator_bench_import_memory"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
TARGET_MB = 600


def bench_env() -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "REDIS_URL": REDIS_URL,
    }


def reset() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        db.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=bench_env(), check=True
    )
    redis.Redis.from_url(REDIS_URL).flushdb()


def giant_csv(path: Path, giant_mb: int) -> None:
    block = b"a" * (1024 * 1024)
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write(b"user,assistant\n")
        for n in range(5):
            handle.write(f"Question {n},Answer {n}\n".encode())
        handle.write(b"Huge,")
        for _ in range(giant_mb):
            handle.write(block)
        handle.write(b"\n")
        for n in range(5, 10):
            handle.write(f"Question {n},Answer {n}\n".encode())


def long_lines(path: Path, lines: int, line_mb: float) -> None:
    unit = "lorem ipsum dolor sit amet consectetur adipiscing elit "
    body = unit * int(line_mb * 1024 * 1024 / len(unit))
    with gzip.open(path, "wb", compresslevel=6) as handle:
        for n in range(lines):
            record = {
                "messages": [
                    {"role": "user", "content": f"Entry {n}: {body}"},
                    {"role": "assistant", "content": f"Noted entry {n}."},
                ]
            }
            handle.write(json.dumps(record).encode() + b"\n")


def peak_of(command: list[str]) -> tuple[int, float, str]:
    """Peak RSS (MB) of a command and all it waited for, its wall time, and its stdout."""
    code = (
        "import resource, subprocess, sys;"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "sys.stderr.write(r.stderr[-2000:]);"
        "print(r.stdout); print(r.returncode);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code, *command],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    *out, returncode, peak_kb = result.stdout.strip().splitlines()
    if int(returncode) != 0:
        print(result.stderr[-2000:], file=sys.stderr)
    return int(peak_kb) // 1024, elapsed, "\n".join(out)


def import_and_analyse(path: Path, slug: str) -> dict:
    import_peak, import_seconds, out = peak_of(import_argv(path, slug))
    summary = json.loads(out.strip().splitlines()[-1])
    worker_peak, worker_seconds, _ = peak_of(
        [sys.executable, "manage.py", "rqworker", "default", "--burst"]
    )
    return {
        "summary": summary,
        "import_mb": import_peak,
        "import_s": import_seconds,
        "quality_mb": worker_peak,
        "quality_s": worker_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--line-mb", type=float, default=3.9)
    parser.add_argument("--giant-mb", type=int, default=1024)
    args = parser.parse_args()
    reset()
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "giant-line.csv.gz"
        giant_csv(csv_path, args.giant_mb)
        jsonl_path = Path(folder) / "long-lines.jsonl.gz"
        long_lines(jsonl_path, args.lines, args.line_mb)
        sizes = {p.name: p.stat().st_size / 1e6 for p in (csv_path, jsonl_path)}
        giant = import_and_analyse(csv_path, "bench-giant-csv")
        long = import_and_analyse(jsonl_path, "bench-long-lines")

    summary = giant["summary"]
    errors = {error["line"]: error["reason"] for error in summary["errors"]}
    print(
        f"1) {sizes['giant-line.csv.gz']:.1f} MB .csv.gz with one {args.giant_mb} MB line: "
        f"outcome {summary['outcome']}, imported {summary['imported']} of 10 good rows, "
        f"line 7: {errors.get(7, 'NOT REPORTED')}"
    )
    print(
        f"   import peak RSS {giant['import_mb']} MB (target <= {TARGET_MB}), {giant['import_s']:.1f} s"
    )
    print(f"   quality job peak RSS {giant['quality_mb']} MB (target <= {TARGET_MB})")
    summary = long["summary"]
    print(
        f"2) {sizes['long-lines.jsonl.gz']:.1f} MB .jsonl.gz of {args.lines} x {args.line_mb} MB lines: "
        f"outcome {summary['outcome']}, imported {summary['imported']}, invalid {summary['invalid']}"
    )
    print(
        f"   import peak RSS {long['import_mb']} MB (target <= {TARGET_MB}), {long['import_s']:.1f} s"
    )
    print(
        f"   quality job peak RSS {long['quality_mb']} MB (target <= {TARGET_MB}), {long['quality_s']:.1f} s"
    )
    worst = max(giant["import_mb"], giant["quality_mb"], long["import_mb"], long["quality_mb"])
    print(
        f"worst peak RSS {worst} MB; ratio to the {TARGET_MB} MB target = {worst / TARGET_MB:.2f} (target <= 1)"
    )


if __name__ == "__main__":
    main()
