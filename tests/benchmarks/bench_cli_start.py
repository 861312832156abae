"""CLI start-up benchmark: a 5-line `manage.py import_conversations`, system checks on.

Prints the median wall time and peak RSS of the whole command (interpreter start, Django
set-up, system checks with the URL config, the import itself) over several runs, against the
targets (<= 1.2 s, <= 150 MB), and the heavy modules a plain `manage.py check` loads.

    DEBUG=true .venv/bin/python tests/benchmarks/bench_cli_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from commands import import_argv

ROOT = Path(__file__).resolve().parents[2]
BENCH_DB = "curator_bench_cli"
HEAVY = ("openai", "datasketch", "scipy", "spacy", "presidio_analyzer", "numpy", "torch", "boto3")
TARGET_SECONDS = 1.2
TARGET_MB = 150

# Runs the command in a child and reports the child's own peak RSS (KB) and CPU seconds on
# stderr's last line. CPU time is printed too: on a busy machine it varies far less than wall.
MEASURE = (
    "import resource, subprocess, sys;"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL);"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime, file=sys.stderr);"
    "sys.exit(done.returncode)"
)


def bench_env() -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
    }


def reset_database() -> None:
    with psycopg.connect(
        "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
    ) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=bench_env(), check=True
    )


def write_lines(path: Path) -> None:
    with path.open("w") as handle:
        for number in range(5):
            messages = [
                {"role": "user", "content": f"Question {number}: how do I reset my password?"},
                {"role": "assistant", "content": "Open Settings, then Security, then Reset."},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")


def run_once(path: Path, slug: str) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB, CPU seconds) of one import command."""
    command = import_argv(path, slug)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed: {done.stderr[-2000:]}")
    peak_kb, cpu = done.stderr.strip().splitlines()[-1].split()
    return elapsed, int(peak_kb) / 1024, float(cpu)


def heavy_modules_at_check() -> list[str]:
    code = (
        "import os, sys, django;"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'curation.settings');"
        "from django.core.management import call_command;"
        "django.setup(); call_command('check', verbosity=0);"
        f"print('heavy:', *(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=bench_env(), capture_output=True, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("heavy:")]
    return lines[-1].split()[1:] if lines else ["(the check failed)"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    reset_database()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "five.jsonl"
        write_lines(path)
        run_once(path, "warm-up")  # fills the OS page cache for the interpreter and packages
        results = [run_once(path, f"cli-{number}") for number in range(args.runs)]
    wall = statistics.median(seconds for seconds, _, _ in results)
    rss = max(mb for _, mb, _ in results)
    cpu = statistics.median(seconds for _, _, seconds in results)
    print(f"5-line import_conversations, {args.runs} runs (system checks on)")
    # On a shared machine wall time moves with the load (CPU time far less); print it.
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"median wall time: {wall:.2f} s   (target <= {TARGET_SECONDS} s)")
    print(f"median CPU time (user + system): {cpu:.2f} s")
    print(f"peak RSS: {rss:.0f} MB   (target <= {TARGET_MB} MB)")
    print(f"ratio wall / target = {wall / TARGET_SECONDS:.2f}  (target <= 1)")
    print(f"ratio RSS / target = {rss / TARGET_MB:.2f}  (target <= 1)")
    heavy = heavy_modules_at_check()
    print(f"heavy modules loaded by `manage.py check`: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
