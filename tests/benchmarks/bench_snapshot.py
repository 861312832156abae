"""Snapshot (export) benchmark: a 100k-example dataset version against a plain COPY.

Prints time(build) ÷ its database floor (that COPY plus storing the version's member rows),
target ≤ 1.5, with both times beside it; time(build) ÷ time(`COPY (SELECT …) TO` a file of
the same rows), target ≤ 3; and the build's peak RSS at 100k ÷ at 10k examples, target ≤ 1.3
(the build streams; memory must not grow with the number of examples).

Data: a scratch database (curator_bench_snapshot), two datasets of approved conversations
inserted with INSERT … SELECT generate_series (system + user + assistant messages, 0.4 to 1.2 kB
each); every 10th has an e-mail address with a `redact` finding over it, 1 in 20 sits in a
near-duplicate cluster, and half lack a system message so the dataset's prompt is prepended.

Baseline: `COPY (SELECT <the columns the build reads> … ORDER BY id) TO STDOUT` written to a
local file by psycopg — what `psql \\copy` does; the build reads the same rows the same way
(over the socket). The server-side `COPY … TO '/file'` is printed too when allowed.

Build: `create_version` + `run_build_job` (count, read, redact, serialize, hash, merge
duplicates, split, write train/validation/manifest, save to storage, record members), timed
inside a fresh process per size so that each peak RSS (ru_maxrss of the build and of the
processes it forked) is that build's own. The build runs once with its default processes
(CURATOR_BUILD_PROCESSES: one per CPU) and once serially; both must write the same bytes.

    DEBUG=true .venv/bin/python tests/benchmarks/bench_snapshot.py [--n 100000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from floors import copy_back_seconds

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BENCH_DB = "curator_bench_snapshot"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
COLUMNS = "id, original, tools, parallel_tool_calls, originals_purged_at, token_count, assistant_tokens, near_dup_cluster"
SYSTEM_PROMPT = "You are the support assistant of Acme Cloud. Be brief and kind."

INSERT_SQL = """
INSERT INTO curation_conversation (
    dataset_id, original, content_hash, status, message_count, token_count, assistant_tokens,
    flags, metadata, review_count, score_avg, created_at, updated_at)
SELECT %(dataset)s,
       CASE WHEN i %% 2 = 0 THEN jsonb_build_array(jsonb_build_object('role', 'system', 'content', 'You answer billing questions for Acme Cloud.'))
            ELSE '[]'::jsonb END
       || jsonb_build_array(
            jsonb_build_object('role', 'user', 'content',
                'Ticket ' || i || ': ' || repeat('my invoice shows a charge I do not recognise, ', 1 + i %% 5)
                || CASE WHEN i %% 10 = 0 THEN 'reach me at user' || i || '@example.com' ELSE 'thanks' END),
            jsonb_build_object('role', 'assistant', 'content',
                repeat('Thanks for reaching out! I checked your account and refunded the duplicate charge. ', 2 + i %% 7)
                || 'Is there anything else I can help with, ticket ' || i || '?')),
       md5(%(dataset)s || ':' || i) || md5(i::text || ':x'),
       'approved', 3 - i %% 2, 80 + (i %% 5) * 12 + (i %% 7) * 20, 40 + (i %% 7) * 20,
       CASE WHEN i %% 2 = 0 THEN '{}'::varchar[] ELSE '{no_system_message}'::varchar[] END,
       '{}'::jsonb, 1, 1 + (i %% 9) * 0.5, now(), now()
FROM generate_series(1, %(count)s) AS i
"""

FINDINGS_SQL = """
INSERT INTO curation_piifinding (conversation_id, message_index, field, start, "end", entity_type, score, source, decision, created_at)
SELECT c.id, m.index - 1, 'content',
       strpos(m.message->>'content', 'reach me at ') + 11, length(m.message->>'content'),
       'EMAIL_ADDRESS', 1.0, 'detector', 'redact', now()
FROM curation_conversation c, jsonb_array_elements(c.original) WITH ORDINALITY AS m(message, index)
WHERE c.dataset_id = %(dataset)s AND m.message->>'role' = 'user' AND m.message->>'content' LIKE '%%@example.com'
"""

CLUSTER_SQL = """
UPDATE curation_conversation SET near_dup_cluster = id - id %% 20
WHERE dataset_id = %(dataset)s AND id %% 20 < 3
"""


def bench_env(media: str) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": DATABASE_URL,
        "MEDIA_ROOT": media,
        "DJANGO_SETTINGS_MODULE": "curation.settings",
        "LOG_LEVEL": "WARNING",
    }


def setup_django(media: str) -> None:
    os.environ.update(bench_env(media))
    import django

    django.setup()


def reset_database(media: str) -> None:
    import psycopg

    with psycopg.connect(
        "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
    ) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=bench_env(media), check=True
    )


def populate(slug: str, count: int) -> int:
    from django.db import connection

    from curation.models import Dataset

    dataset = Dataset.objects.create(name=slug, slug=slug, system_prompt=SYSTEM_PROMPT)
    with connection.cursor() as cursor:
        params = {"dataset": dataset.pk, "count": count}
        cursor.execute(INSERT_SQL, params)
        cursor.execute(FINDINGS_SQL, params)
        cursor.execute(CLUSTER_SQL, params)
        cursor.execute("ANALYZE curation_conversation")
        cursor.execute("ANALYZE curation_piifinding")
    return dataset.pk


def time_copy(dataset_id: int, path: Path) -> float:
    import psycopg

    query = (
        f"COPY (SELECT {COLUMNS} FROM curation_conversation "  # noqa: S608
        f"WHERE dataset_id = {int(dataset_id)} AND status = 'approved' ORDER BY id) TO STDOUT"
    )
    with psycopg.connect(DATABASE_URL) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(query) as copy, path.open("wb") as handle:
            for data in copy:
                handle.write(data)
        return time.perf_counter() - started


def time_server_copy(dataset_id: int) -> float | None:
    import psycopg

    target = f"/tmp/curator-bench-copy-{os.getpid()}.tsv"
    query = (
        f"COPY (SELECT {COLUMNS} FROM curation_conversation "  # noqa: S608
        f"WHERE dataset_id = {int(dataset_id)} AND status = 'approved' ORDER BY id) TO '{target}'"
    )
    try:
        with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
            started = time.perf_counter()
            connection.execute(query)
            elapsed = time.perf_counter() - started
            connection.execute(f"COPY (SELECT 1) TO '{target}'")  # truncate the file we made
            return elapsed
    except psycopg.Error:
        return None


MEMBER_COLUMNS = (
    "conversation_id, content_hash, split, version_id, duplicate_of, byte_offset, byte_length"
)


def time_members_copy(dataset_id: int) -> float:
    """Seconds to COPY the member rows of the dataset's last version back into
    curation_versionexample (with its index, constraint and foreign key), in a transaction
    rolled back: the one write a build must make besides its files."""
    import psycopg

    with psycopg.connect(DATABASE_URL) as connection:
        (version,) = connection.execute(
            "SELECT max(id) FROM curation_datasetversion WHERE dataset_id = %s AND status = %s",
            [dataset_id, "succeeded"],
        ).fetchone()
        return copy_back_seconds(
            connection,
            read=f"COPY (SELECT {MEMBER_COLUMNS} FROM curation_versionexample "  # noqa: S608
            f"WHERE version_id = {int(version)}) TO STDOUT",
            before=[("DELETE FROM curation_versionexample WHERE version_id = %s", [version])],
            write=f"COPY curation_versionexample ({MEMBER_COLUMNS}) FROM STDIN",
        )


def child(slug: str) -> None:
    """Build one version of `slug` in this process; print its time and peak RSS as JSON."""
    setup_django(os.environ["MEDIA_ROOT"])
    from curation.models import Dataset, DatasetVersion
    from curation.services.versions.build import run_build_job
    from curation.services.versions.preview import create_version, normalize_filter

    dataset = Dataset.objects.get(slug=slug)
    started = time.perf_counter()
    version = create_version(dataset=dataset, user=None, filter=normalize_filter(), enqueue=False)
    run_build_job(version_id=version.pk)
    elapsed = time.perf_counter() - started
    version = DatasetVersion.objects.get(pk=version.pk)
    assert version.status == "succeeded", version.error
    leaked = 0
    from curation.services.versions.build import build_processes

    for name in ("train.jsonl", "validation.jsonl"):
        with open(Path(os.environ["MEDIA_ROOT"]) / version.files[name]["name"], "rb") as handle:
            leaked += sum(b"@example.com" in line for line in handle)
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "peak_rss_kb": max(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                ),
                "processes": build_processes(),
                "sha256": [
                    version.files[name]["sha256"] for name in ("train.jsonl", "validation.jsonl")
                ],
                "examples": version.examples,
                "bytes": version.files["train.jsonl"]["size"]
                + version.files["validation.jsonl"]["size"],
                "leaked_emails": leaked,
            }
        )
    )


def run_build(slug: str, media: str, *, processes: int = 0) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", slug],
        cwd=ROOT,
        env={**bench_env(media), "CURATOR_BUILD_PROCESSES": str(processes)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2, help="best of N timings")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    small_n = args.n // 10
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="curator-bench-media-") as media:
        reset_database(media)
        setup_django(media)
        big = populate("bench-big", args.n)
        populate("bench-small", small_n)
        # Alternate the baseline and the build so that both see the same machine load.
        copies, builds_big, builds_small, serial = [], [], [], []
        with tempfile.TemporaryDirectory() as folder:
            time_copy(big, Path(folder) / "copy.tsv")  # warm the cache for both
            for _ in range(args.rounds):
                copies.append(time_copy(big, Path(folder) / "copy.tsv"))
                builds_big.append(run_build("bench-big", media))
                builds_small.append(run_build("bench-small", media))
                serial.append(run_build("bench-big", media, processes=1))
            copy_bytes = (Path(folder) / "copy.tsv").stat().st_size
        copy_seconds = min(copies)
        server_copy = time_server_copy(big)
        members_seconds = time_members_copy(big)
    best = min(builds_big, key=lambda b: b["seconds"])
    best_serial = min(serial, key=lambda b: b["seconds"])
    assert all(b["sha256"] == best_serial["sha256"] for b in builds_big + serial), (
        "a parallel build wrote other bytes than a serial one"
    )
    rss_big = min(b["peak_rss_kb"] for b in builds_big)
    rss_small = min(b["peak_rss_kb"] for b in builds_small)
    assert best["examples"] == args.n and all(
        b["leaked_emails"] == 0 for b in builds_big + builds_small
    )
    print(
        f"load average at the start {load_at_start:.1f}, at the end {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs (timings are best-of-N)"
    )
    print(
        f"dataset: {args.n} approved examples ({best['bytes'] / 1e6:.0f} MB of JSONL); "
        f"COPY output {copy_bytes / 1e6:.0f} MB"
    )
    print(f"COPY (SELECT …) TO STDOUT → file: {copy_seconds:.2f} s (best of {args.rounds})")
    if server_copy is not None:
        print(f"COPY (SELECT …) TO '/file' on the server: {server_copy:.2f} s")
    print(
        f"build (read, redact, serialize, hash, split, write 3 files, store, record members): "
        f"{best['seconds']:.2f} s ({args.n / best['seconds']:,.0f} examples/s, best of {args.rounds})"
    )
    floor = copy_seconds + members_seconds
    print(
        f"the database's share alone: that COPY plus storing the {args.n} member rows "
        f"(COPY into curation_versionexample, {members_seconds:.2f} s) = {floor:.2f} s = "
        f"{floor / copy_seconds:.2f} times COPY"
    )
    print(
        f"ratio time(build) / its database floor = {best['seconds'] / floor:.2f}  (target <= 1.5; "
        f"build {best['seconds']:.2f} s, floor {floor:.2f} s); serial build / floor = "
        f"{best_serial['seconds'] / floor:.2f}"
    )
    print(
        f"ratio time(build) / time(COPY) = {best['seconds'] / copy_seconds:.2f}  (target <= 3; "
        f"{best['processes']} processes)"
    )
    print(
        f"serial build: {best_serial['seconds']:.2f} s, ratio "
        f"{best_serial['seconds'] / copy_seconds:.2f}; parallel ÷ serial = "
        f"{best['seconds'] / best_serial['seconds']:.2f}; files byte-identical: yes"
    )
    print(f"peak RSS: {rss_big / 1024:.0f} MB at {args.n}, {rss_small / 1024:.0f} MB at {small_n}")
    print(f"ratio peak RSS {args.n} / {small_n} = {rss_big / rss_small:.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
