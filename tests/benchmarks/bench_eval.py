"""Evaluation benchmark: concurrency against a slow endpoint, and the run's own overhead.

A loopback stub answers `/v1/chat/completions` after LATENCY seconds (200 ms). One process
runs an evaluation of N examples (1,000) at concurrency 16, and one at concurrency 1 (on
--serial examples, 100 by default: at 200 ms each a 1,000-example serial run would take
more than 3 minutes for the same rate). Prints

- throughput(concurrency 16) ÷ throughput(concurrency 1), target ≥ 10;
- the run's own overhead per example (queue, storage, metrics): the run's time minus the
  time of the same requests made by a bare loop of openai SDK calls (same client settings,
  same concurrency, no database), divided by the examples; target <= 5 ms. The overhead
  beyond the endpoint's latency alone (which includes the HTTP round trip) is printed too.

The run is the real one (create_eval_run + run_eval_job: eval set read and hashed, requests
through the openai SDK, outputs stored in batches, metrics per example and per run).

    DEBUG=true .venv/bin/python tests/benchmarks/bench_eval.py [--n 1000] [--serial 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BENCH_DB = "curator_bench_eval"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
LATENCY = 0.2
REPLY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "stub",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Invoice 7 totals 70 euros."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
    }
).encode()


class Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(LATENCY)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def start_stub() -> Server:
    server = Server(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def setup(media: str, stub_url: str) -> None:
    env = {
        "DEBUG": "true",
        "DATABASE_URL": DATABASE_URL,
        "MEDIA_ROOT": media,
        "DJANGO_SETTINGS_MODULE": "curation.settings",
        "LOG_LEVEL": "WARNING",
        "CURATOR_EVAL_ENDPOINTS": json.dumps(
            [{"name": "stub", "base_url": stub_url, "model": "stub", "max_concurrency": 64}]
        ),
    }
    os.environ.update(env)
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env={**os.environ}, check=True
    )
    import django

    django.setup()


def make_version(n: int) -> Any:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from curation.models import Dataset, DatasetVersion

    dataset = Dataset.objects.create(name="Bench", slug="bench")
    lines = []
    for i in range(n):
        lines.append(
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "You answer questions about invoices."},
                        {"role": "user", "content": f"What is the total of invoice {i}?"},
                        {"role": "assistant", "content": f"Invoice {i} totals {i * 10} euros."},
                    ]
                }
            )
        )
    data = ("\n".join(lines) + "\n").encode()
    files = {}
    for name, content in (
        ("validation.jsonl", data),
        ("train.jsonl", data[: data.index(b"\n") + 1]),
    ):
        stored = default_storage.save(f"bench/{name}", ContentFile(content))
        files[name] = {
            "name": stored,
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "examples": content.count(b"\n"),
        }
    return DatasetVersion.objects.create(
        dataset=dataset,
        number=1,
        status="succeeded",
        examples=n,
        validation_examples=n,
        files=files,
    )


def timed_run(version: Any, *, concurrency: int, limit: int) -> tuple[float, Any]:
    from training.evaluation.services.runs import create_eval_run, run_eval_job

    run = create_eval_run(
        dataset=version.dataset,
        version=version,
        model="stub",
        concurrency=concurrency,
        limit=limit,
        enqueue=False,
    )
    started = time.perf_counter()
    run = run_eval_job(run_id=run.pk)
    elapsed = time.perf_counter() - started
    assert run.status == "succeeded", run.error
    assert run.metrics["scored"] == limit, run.metrics
    return elapsed, run


def bare_requests(url: str, *, concurrency: int, count: int) -> float:
    """The same requests through the openai SDK with nothing else: the floor for the run."""
    from concurrent.futures import ThreadPoolExecutor

    import openai

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)
    messages = [{"role": "user", "content": "What is the total of invoice 7?"}]

    def one(_: int) -> Any:
        return client.chat.completions.create(model="stub", messages=messages, temperature=0)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--serial", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=2, help="best of this many (a busy machine is noisy)"
    )
    args = parser.parse_args()
    stub = start_stub()
    url = f"http://127.0.0.1:{stub.server_address[1]}/v1"
    with tempfile.TemporaryDirectory(prefix="curator-bench-eval-") as media:
        setup(media, url)
        version = make_version(args.n)
        timed_run(version, concurrency=4, limit=20)  # warm up: imports, connections
        timings: dict[str, list[float]] = {"parallel": [], "serial": [], "bare_p": [], "bare_s": []}
        # Alternated, best of each: load from elsewhere on the machine hits both sides alike.
        for _ in range(args.rounds):
            timings["parallel"].append(
                timed_run(version, concurrency=args.concurrency, limit=args.n)[0]
            )
            timings["bare_p"].append(bare_requests(url, concurrency=args.concurrency, count=args.n))
            timings["serial"].append(timed_run(version, concurrency=1, limit=args.serial)[0])
            timings["bare_s"].append(bare_requests(url, concurrency=1, count=args.serial))
        t_parallel, t_serial = min(timings["parallel"]), min(timings["serial"])
        bare_parallel, bare_serial = min(timings["bare_p"]), min(timings["bare_s"])
    stub.shutdown()
    throughput_parallel = args.n / t_parallel
    throughput_serial = args.serial / t_serial
    ideal = math.ceil(args.n / args.concurrency) * LATENCY
    beyond_latency = (t_serial / args.serial - LATENCY) * 1000
    overhead_serial = (t_serial - bare_serial) / args.serial * 1000
    overhead_parallel = (t_parallel - bare_parallel) / args.n * 1000
    print(f"endpoint latency: {LATENCY * 1000:.0f} ms")
    print(
        f"concurrency {args.concurrency}: {args.n} examples in {t_parallel:.2f} s "
        f"({throughput_parallel:.1f}/s; ideal {ideal:.1f} s)"
    )
    print(f"concurrency 1: {args.serial} examples in {t_serial:.2f} s ({throughput_serial:.2f}/s)")
    print(
        f"throughput ratio (concurrency {args.concurrency} / 1): "
        f"{throughput_parallel / throughput_serial:.2f}  (target >= 10)"
    )
    print(
        f"bare SDK loop: concurrency {args.concurrency} {bare_parallel:.2f} s, "
        f"concurrency 1 {bare_serial:.2f} s"
    )
    print(
        f"time per example beyond the endpoint's latency at concurrency 1: {beyond_latency:.2f} ms"
    )
    print(f"overhead per example at concurrency 1: {overhead_serial:.2f} ms  (target <= 5)")
    print(
        f"overhead per example at concurrency {args.concurrency}: {overhead_parallel:.2f} ms  "
        "(target <= 5)"
    )


if __name__ == "__main__":
    main()
