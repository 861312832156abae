"""Ingest API benchmark: 10,000 conversations posted in one request, and in 100 requests of
100, against the same lines imported as a file.

Prints time(one request of 10k) ÷ time(file import of the same lines), target ≤ 3, and
time(100 requests of 100) ÷ time(one request of 10k), target ≤ 1.5. Everything runs in this
process against a scratch database (Django's test client drives the real URL, middleware,
token check and ingest service); each measurement imports into its own fresh dataset.

    DEBUG=true .venv/bin/python tests/benchmarks/bench_ingest.py [--n 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[2]
BENCH_DB = "curator_bench_ingest"
sys.path.insert(0, str(ROOT))

from tests.benchmarks.bench_import import WORDS  # noqa: E402


def conversations(count: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)

    def sentence(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."

    items = []
    for number in range(count):
        messages = [{"role": "system", "content": "You are a helpful support assistant."}]
        for _ in range(rng.randint(1, 3)):
            messages.append(
                {"role": "user", "content": f"#{number} " + sentence(rng.randint(8, 30))}
            )
            messages.append({"role": "assistant", "content": sentence(rng.randint(15, 60))})
        items.append(
            {
                "messages": messages,
                "feedback": rng.choice(["up", "down"]),
                "model": "ft:bench",
                "trace_id": f"t-{number}",
            }
        )
    return items


def reset_database() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    os.environ.update(
        {
            "DEBUG": "true",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"),
            "CURATOR_INGEST_RATE_LIMIT": "0",
            "ALLOWED_HOSTS": "localhost",
            "DJANGO_SETTINGS_MODULE": "curation.settings",
        }
    )
    reset_database()
    import django

    django.setup()
    import django_rq
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from curation.models import AccessToken, Dataset, Membership, Role
    from curation.services.imports import create_import_batch, run_import_job
    from curation.token_count import count_text

    count_text("warm up the tokenizer")
    user = get_user_model().objects.create_user("bench", password="unused-bench-password")

    def fresh(slug: str) -> tuple[Dataset, str]:
        dataset = Dataset.objects.create(name=slug, slug=slug)
        Membership.objects.create(dataset=dataset, user=user, role=Role.ADMIN)
        return dataset, AccessToken.issue(user=user, name=slug, scope="ingest")[1]

    items = conversations(args.n)
    lines = b"".join(orjson.dumps(item) + b"\n" for item in items)
    client = Client(SERVER_NAME="localhost")

    dataset, _ = fresh("bench-file")
    started = time.perf_counter()
    batch = create_import_batch(
        dataset=dataset,
        uploaded=SimpleUploadedFile("bench.jsonl", lines),
        original_name="bench.jsonl",
        fmt="openai",
        user=user,
        enqueue=False,
    )
    batch = run_import_job(batch_id=batch.pk)
    file_seconds = time.perf_counter() - started
    assert batch.imported == args.n, batch.as_summary()

    def post(slug: str, secret: str, body: bytes) -> dict:
        response = client.post(
            f"/api/v1/datasets/{slug}/conversations",
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
        assert response.status_code == 200, response.content[:500]
        return response.json()

    # Warm up: URL configuration, views and the API schema load on the first request.
    dataset, secret = fresh("bench-warm-up")
    post(
        dataset.slug,
        secret,
        b"".join(orjson.dumps(item) + b"\n" for item in conversations(5, seed=9)),
    )

    dataset, secret = fresh("bench-one")
    started = time.perf_counter()
    result = post(dataset.slug, secret, lines)
    one_seconds = time.perf_counter() - started
    assert result["imported"] == args.n, result["errors"][:3]

    dataset, secret = fresh("bench-many")
    size = args.n // args.requests
    bodies = [
        b"".join(orjson.dumps(item) + b"\n" for item in items[i : i + size])
        for i in range(0, args.n, size)
    ]
    started = time.perf_counter()
    imported = sum(post(dataset.slug, secret, body)["imported"] for body in bodies)
    many_seconds = time.perf_counter() - started
    assert imported == args.n
    django_rq.get_queue("default").empty()
    django_rq.get_queue("pii").empty()

    print(f"{args.n} conversations, {len(lines) / 1e6:.1f} MB of JSONL")
    print(f"file import (in process, no start-up): {file_seconds:.2f} s")
    print(f"one ingest request of {args.n}: {one_seconds:.2f} s")
    print(f"{len(bodies)} ingest requests of {size}: {many_seconds:.2f} s")
    print(
        f"ratio time(ingest 1 x {args.n}) / time(file import) = {one_seconds / file_seconds:.2f}  (target <= 3)"
    )
    print(
        f"ratio time({len(bodies)} x {size}) / time(1 x {args.n}) = "
        f"{many_seconds / one_seconds:.2f}  (target <= 1.5)"
    )


if __name__ == "__main__":
    main()
