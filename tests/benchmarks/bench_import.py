"""Import benchmark: 100k generated conversations (issue 19).

Prints time(import) ÷ its database floor (the imported rows COPied back, as they are, into
`curation_conversation` with its indexes, constraints and foreign keys), target ≤ 1.3, with
both times beside it; time(import) ÷ time(COPY of the same lines into a one-column jsonb
table), target ≤ 3;
time(import) ÷ (time(COPY) + the exact counter's own time on the same texts), target ≤ 1.3,
so the overhead beyond counting stays visible; and peak RSS of the import at 100k ÷ at 10k,
target ≤ 1.3 (memory must not grow with size). Each import runs as `manage.py
import_conversations` in its own process against a scratch database, so its peak RSS is its
own; the import time is the job's own (started → finished on its row: validation, dedup,
exact token counts and the inserts, without the process start), printed beside the wall
time of the whole command.

    DEBUG=true .venv/bin/python tests/benchmarks/bench_import.py [--n 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from commands import import_argv
from floors import copy_back_seconds

ROOT = Path(__file__).resolve().parents[2]
BENCH_DB = "curator_bench_import"
WORDS = [
    "account",
    "billing",
    "refund",
    "password",
    "storage",
    "sync",
    "folder",
    "share",
    "invoice",
    "plan",
    "upgrade",
    "team",
    "seat",
    "error",
    "login",
    "device",
    "backup",
    "restore",
    "archive",
    "quota",
    "limit",
    "support",
    "ticket",
    "order",
    "shipping",
    "address",
    "update",
]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def generate(path: Path, count: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with path.open("w") as handle:
        for number in range(count):
            messages = [{"role": "system", "content": "You are a helpful support assistant."}]
            for _ in range(rng.randint(1, 3)):
                messages.append(
                    {"role": "user", "content": f"#{number} " + sentence(rng, rng.randint(8, 30))}
                )
                messages.append(
                    {"role": "assistant", "content": sentence(rng, rng.randint(15, 60))}
                )
            handle.write(json.dumps({"messages": messages}) + "\n")


def reset_database() -> None:
    with psycopg.connect(
        "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
    ) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    env = bench_env()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def bench_env() -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        # Follow-up jobs the import queues go to this checkout's Redis database.
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"),
    }


def time_copy(path: Path) -> float:
    with psycopg.connect(
        f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}", autocommit=True
    ) as connection:
        connection.execute("DROP TABLE IF EXISTS copy_baseline")
        connection.execute("CREATE TABLE copy_baseline (doc jsonb)")
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY copy_baseline (doc) FROM STDIN") as copy,
            path.open("rb") as handle,
        ):
            for line in handle:
                # COPY's text format treats backslashes as escapes; double them so each line is its JSON.
                copy.write(line.replace(b"\\", b"\\\\"))
        elapsed = time.perf_counter() - started
        connection.execute("DROP TABLE copy_baseline")
    return elapsed


def time_import(path: Path, slug: str) -> tuple[float, int, dict]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        import_argv(path, slug),
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return elapsed, max(peak_kb, before), summary


def counter_seconds(path: Path) -> tuple[float, int]:
    """The exact counter's own time over every message text of the file, one process."""
    code = (
        "import sys, time, orjson;"
        "sys.path.insert(0, '.');"
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'curation.settings');"
        "django.setup();"
        "from curation.token_count import get_counter;"
        "count = get_counter().count;"
        "texts = [m['content'] for line in open(sys.argv[1], 'rb') for m in orjson.loads(line)['messages']];"
        "started = time.perf_counter(); total = sum(count(t) for t in texts);"
        "print(time.perf_counter() - started, total)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, tokens = result.stdout.split()
    return float(seconds), int(tokens)


def job_seconds(batch: int) -> float:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}") as connection:
        row = connection.execute(
            "SELECT extract(epoch FROM finished_at - started_at) FROM curation_importbatch WHERE id = %s",
            [batch],
        ).fetchone()
    return float(row[0])


# The columns an import writes (curation.services.imports.STAGE_COLUMNS) but the hash.
ROW_COLUMNS = (
    "dataset_id, batch_id, source_line, original, tools, parallel_tool_calls, status, "
    "message_count, token_count, assistant_tokens, flags, metadata, review_count, created_at, "
    "updated_at"
)


def time_table_floor(batch: int) -> float:
    """Seconds to COPY the rows the import wrote, as they are, into the conversation table
    with its indexes, constraints and foreign keys, in one transaction (rolled back): what the
    database alone needs to store these rows, whatever Python does."""
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}") as connection:
        return copy_back_seconds(
            connection,
            # Other hashes of the same length, so that the dedup index takes them all.
            read=f"COPY (SELECT {ROW_COLUMNS}, md5(content_hash) || substr(content_hash, 33) "  # noqa: S608
            f"FROM curation_conversation WHERE batch_id = {int(batch)} ORDER BY id) TO STDOUT",
            write=f"COPY curation_conversation ({ROW_COLUMNS}, content_hash) FROM STDIN",
        )


def peak_rss_of(path: Path, slug: str) -> int:
    """Peak RSS (KB) of one import process, measured by /usr/bin/time-free means: a wrapper."""
    code = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *import_argv(path, slug, json_summary=False)],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    reset_database()
    with tempfile.TemporaryDirectory() as folder:
        big, small = Path(folder) / "big.jsonl", Path(folder) / "small.jsonl"
        generate(big, args.n)
        generate(small, args.n // 10, seed=2)
        size_mb = big.stat().st_size / 1e6
        # Baselines measured just before and just after the import, and averaged, so that a
        # change of load on a shared machine weighs on both sides of the ratio alike.
        copy_before = time_copy(big)
        count_before, tokens = counter_seconds(big)
        wall_seconds, _, summary = time_import(big, "bench-big")
        assert summary["imported"] == args.n, summary
        import_seconds = job_seconds(summary["batch"])
        floor_first = time_table_floor(summary["batch"])
        copy_after = time_copy(big)
        count_after, _ = counter_seconds(big)
        # Measured twice, as the baselines are, so that a change of load weighs on both sides.
        floor_second = time_table_floor(summary["batch"])
        floor_seconds = (floor_first + floor_second) / 2
        copy_seconds = (copy_before + copy_after) / 2
        count_seconds = (count_before + count_after) / 2
        rss_big = peak_rss_of(big, "bench-rss-big")
        rss_small = peak_rss_of(small, "bench-rss-small")
    # On a shared machine the ratios move with the load; print it beside them.
    print(
        f"load average at the start {load_at_start:.1f}, at the end {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"file: {args.n} conversations, {size_mb:.0f} MB")
    print(
        f"COPY into a jsonb column: {copy_seconds:.2f} s "
        f"(before the import {copy_before:.2f} s, after {copy_after:.2f} s)"
    )
    print(
        f"exact counter alone, one process: {count_seconds:.2f} s for {tokens:,} tokens "
        f"(before {count_before:.2f} s, after {count_after:.2f} s)"
    )
    print(
        f"import (validate, normalize, hash, count tokens, dedup, insert): {import_seconds:.2f} s "
        f"({args.n / import_seconds:,.0f} conversations/s); the whole command {wall_seconds:.2f} s"
    )
    print(
        f"COPY of the imported rows into curation_conversation (its indexes, constraints and "
        f"foreign keys; the database's share alone): {floor_seconds:.2f} s = "
        f"{floor_seconds / copy_seconds:.2f} times COPY (right after the import "
        f"{floor_first:.2f} s, at the end {floor_second:.2f} s)"
    )
    print(
        f"ratio time(import) / its database floor = {import_seconds / floor_seconds:.2f}  "
        f"(target <= 1.3; import {import_seconds:.2f} s, floor {floor_seconds:.2f} s)"
    )
    print(f"ratio time(import) / time(COPY) = {import_seconds / copy_seconds:.2f}  (target <= 3)")
    print(
        "ratio time(import) / (time(COPY) + counter) = "
        f"{import_seconds / (copy_seconds + count_seconds):.2f}  (target <= 1.3)"
    )
    print(
        f"peak RSS: {rss_big / 1024:.0f} MB at {args.n}, {rss_small / 1024:.0f} MB at {args.n // 10}"
    )
    print(f"ratio peak RSS {args.n} / {args.n // 10} = {rss_big / rss_small:.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
