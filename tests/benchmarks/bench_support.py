"""Support-chat benchmark: import → PII → version on repetitive support traffic.

Data: ``support_chats.py``: CuCom's public e-commerce support conversations (Apache-2.0) by
default, or ``--corpus abcd`` (ABCD's three sample dialogues re-personalised, the earlier
data), scaled to ``--messages`` with their own repetition kept. Steps, each the operator's command in its own
process (start-up included in the wall times), against a scratch database:

1. ``import_conversations`` of the whole file (PII on: the import queues a detection run);
2. ``redact --wait`` with the analysis cache (the run the import queued, in one process);
3. a reference: the first ``--reference`` messages' conversations imported into a second
   dataset and analysed with ``CURATOR_PII_CACHE=false CURATOR_PII_NER_PREFILTER=false``
   (every message through the detector and every text through spaCy's NER, as before the
   cache and the prefilter); their findings must equal the cached dataset's on the same
   conversations, finding for finding;
4. ``review_bulk --approve`` and ``snapshot`` (the version build).

Printed: detection messages/s per core with the cache and without (from the runs' own start
and finish times, one process = one core), the cache's reuse rate, the wall time of each
step, and spaCy's ``nlp.pipe`` (tok2vec + ner) over the distinct texts as the ceiling (what
any spaCy-based detector that analyses each distinct text once could reach), with the
machine's load average beside the figures (the machine is shared).

    DEBUG=true .venv/bin/python tests/benchmarks/bench_support.py [--messages 100000] [--reference 6000] [--corpus cucom|abcd] [--scale-out] [--skip-ceiling]
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

from support_chats import CORPORA, conversations, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# Overridable so that two runs (sizes) can go side by side on one machine.
BENCH_DB = os.environ.get("CURATOR_BENCH_SUPPORT_DB", "curator_bench_support")
BENCH_REDIS = os.environ.get("CURATOR_BENCH_REDIS", "redis://127.0.0.1:6379/13")


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "REDIS_URL": BENCH_REDIS,
        "DJANGO_SETTINGS_MODULE": "curation.settings",
        **extra,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _manage(*args: str, cwd: Path = ROOT, **extra: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", *args, "--json"],
        cwd=cwd,
        env=_env(**extra),
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return elapsed, json.loads(done.stdout.strip().splitlines()[-1])


def _fresh_database() -> None:
    import psycopg
    import redis

    with psycopg.connect(
        "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
    ) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=_env(), check=True
    )


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _run_rate(slug: str) -> tuple[int, int, float]:
    """Messages, reused messages and messages/s of the dataset's latest detection run."""
    from curation.models import PiiRun

    run = PiiRun.objects.filter(dataset__slug=slug).order_by("-id").first()
    assert run is not None and run.status == "succeeded", (run and run.status, run and run.error)
    seconds = (run.finished_at - run.started_at).total_seconds()
    return run.messages_analyzed, run.messages_reused, run.messages_analyzed / seconds


def _findings(slug: str, lines: int) -> list[tuple]:
    from curation.models import PiiFinding

    return sorted(
        PiiFinding.objects.filter(
            conversation__dataset__slug=slug, conversation__source_line__lte=lines
        ).values_list(
            "conversation__source_line",
            "message_index",
            "field",
            "start",
            "end",
            "entity_type",
            "score",
        )
    )


def _spacy_ceiling(path: Path) -> tuple[int, int, float]:
    """Total messages, distinct texts, and seconds of nlp.pipe (tok2vec+ner) over the
    distinct texts."""
    import spacy

    from curation.pii.engine import configured_model_name

    texts = [
        message["content"]
        for line in path.read_text().splitlines()
        for message in json.loads(line)["messages"]
    ]
    distinct = list(dict.fromkeys(texts))
    nlp = spacy.load(configured_model_name(), enable=["tok2vec", "ner"])
    started = time.perf_counter()
    for _ in nlp.pipe(distinct, batch_size=64):
        pass
    return len(texts), len(distinct), time.perf_counter() - started


def _print_repetition(messages: int, corpus: str) -> None:
    """Repeated texts in the file, and in the corpus's own conversations (before any replay)."""
    texts: list[str] = []
    published: list[str] = []
    for chat in conversations(messages, corpus=corpus):
        contents = [message["content"] for message in chat["messages"]]
        texts.extend(contents)
        if not chat.get("replayed"):
            published.extend(contents)
    print(
        f"  repeated texts: {1 - len(set(texts)) / len(texts):.1%} of {len(texts)}; "
        f"in the corpus's own conversations {1 - len(set(published)) / len(published):.1%} of {len(published)}"
    )


def _timed_workers(slug: str, workers: int) -> tuple[float, int, float]:
    """Wall seconds for `workers` burst `pii` workers, started together (process start, Django
    and engine load included), to finish a fresh run over the dataset with an empty cache;
    the messages analysed; and the CPU seconds the workers and their work horses used."""
    import django_rq

    from curation.models import (
        Conversation,
        ConversationStatus,
        Dataset,
        PiiFinding,
        PiiRun,
        PiiTextAnalysis,
    )
    from curation.services.pii.runs import plan_detection, start_detection

    dataset = Dataset.objects.get(slug=slug)
    PiiFinding.objects.filter(conversation__dataset=dataset).delete()
    PiiTextAnalysis.objects.filter(dataset=dataset).delete()
    Conversation.objects.filter(dataset=dataset).update(
        status=ConversationStatus.PENDING_PII, pii_run=None, redacted=None
    )
    django_rq.get_queue("pii").empty()
    run = start_detection(dataset=dataset, enqueue=False)
    assert run is not None
    plan_detection(run_id=run.pk)  # chunks wait in the queue before any worker starts
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "pii", "--burst"],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Each worker in a session of its own, as a service manager starts them: with
            # autogroup scheduling, workers of one session would share one session's CPU.
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    cpu = 0.0
    for process in processes:
        # wait4's usage covers the worker and the work horses it forked and reaped.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
    elapsed = time.perf_counter() - started
    run = PiiRun.objects.get(pk=run.pk)
    assert run.status == "succeeded", (run.status, run.error)
    return elapsed, run.messages_analyzed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--reference", type=int, default=3_000, help="messages analysed uncached")
    parser.add_argument("--corpus", choices=CORPORA, default="cucom")
    parser.add_argument(
        "--scale-out", action="store_true", help="then time 1 and 2 burst workers on the run"
    )
    parser.add_argument(
        "--baseline-code",
        type=Path,
        help="a checkout of earlier code (git archive COMMIT | tar -x -C DIR) whose detector "
        "analyses the reference, uncached: today's path exactly, in the same run",
    )
    parser.add_argument(
        "--skip-ceiling",
        action="store_true",
        help="leave out spaCy's nlp.pipe over all distinct texts (the longest step)",
    )
    parser.add_argument(
        "--scale-out-only",
        action="store_true",
        help="only time 1 and 2 workers, on the dataset the last full run left in the database",
    )
    args = parser.parse_args()

    if not args.scale_out_only:
        _fresh_database()
    os.environ.update(_env())
    import django

    django.setup()
    if args.scale_out_only:
        _scale_out()
        return

    with tempfile.TemporaryDirectory() as folder:
        full, head = Path(folder) / "support.jsonl", Path(folder) / "head.jsonl"
        chats, messages = write_jsonl(full, args.messages, corpus=args.corpus)
        lines = full.read_text().splitlines(keepends=True)
        reference_lines, counted = 0, 0
        while counted < args.reference and reference_lines < len(lines):
            counted += len(json.loads(lines[reference_lines])["messages"])
            reference_lines += 1
        head.write_text("".join(lines[:reference_lines]))
        print(
            f"support benchmark ({args.corpus}): {chats} conversations, {messages} messages (load {_load()})"
        )
        _print_repetition(args.messages, args.corpus)

        steps: dict[str, float] = {}
        steps["import"], imported = _manage(
            "import_conversations", "--dataset", "support", "--create", str(full)
        )
        cpu = _children_cpu()
        steps["pii"], _ = _manage("redact", "--dataset", "support", "--wait")
        cached_cpu = _children_cpu() - cpu
        cached_messages, reused, cached_rate = _run_rate("support")
        print(
            f"  import            : {steps['import']:7.1f} s  {imported['imported']} conversations (load {_load()})"
        )
        print(
            f"  PII (cache)       : {steps['pii']:7.1f} s  {cached_messages} messages, {cached_rate:7.1f} msg/s per core, reuse {reused / cached_messages:.1%} (load {_load()})"
        )

        steps["approve"], _ = _manage(
            "review_bulk", "--dataset", "support", "--approve", "--where", "all"
        )
        steps["version"], version = _manage("snapshot", "--dataset", "support")
        print(f"  approve all       : {steps['approve']:7.1f} s")
        print(
            f"  version build     : {steps['version']:7.1f} s  {version['examples']} examples (load {_load()})"
        )
        print(
            f"  import → PII → version wall: {sum(steps.values()):7.1f} s (each step a fresh process)"
        )

        _manage("import_conversations", "--dataset", "support-plain", "--create", str(head))
        cpu = _children_cpu()
        _manage(
            "redact",
            "--dataset",
            "support-plain",
            "--wait",
            cwd=args.baseline_code or ROOT,
            CURATOR_PII_CACHE="false",
            CURATOR_PII_NER_PREFILTER="false",
        )
        plain_cpu = _children_cpu() - cpu
        plain_messages, plain_reused, plain_rate = _run_rate("support-plain")
        assert plain_reused == 0
        same = _findings("support", reference_lines) == _findings("support-plain", reference_lines)
        print(
            f"  PII (no cache, NER on every text: the path before both"
            f"{', code of ' + str(args.baseline_code) if args.baseline_code else ''}): "
            f"{plain_messages} messages, {plain_rate:7.1f} msg/s per core (load {_load()})"
        )
        print(
            f"  ratio cache / no cache (msg/s per core): {cached_rate / plain_rate:6.2f}   (target >= 3)"
        )
        # The same ratio from the commands' own CPU seconds (process start and engine load
        # included, which weighs more in the small reference): steadier under a varying load.
        print(
            f"  messages per CPU second of the command: cache {cached_messages / cached_cpu:7.1f}, "
            f"no cache {plain_messages / plain_cpu:7.1f}, ratio "
            f"{(cached_messages / cached_cpu) / (plain_messages / plain_cpu):6.2f}"
        )
        print(f"  findings on the {reference_lines} reference conversations identical: {same}")

        if not args.skip_ceiling:
            total, distinct, seconds = _spacy_ceiling(full)
            print(
                f"  spaCy nlp.pipe over the {distinct} distinct texts: {seconds:6.1f} s = {total / seconds:7.1f} msg/s of all {total} (load {_load()})"
            )
            print(
                f"  ratio detection (cache) / spaCy ceiling: {cached_rate / (total / seconds):6.2f}"
            )
        if not same:
            raise SystemExit("findings differ between the cached and the uncached analysis")
        if args.scale_out:
            _scale_out()


def _scale_out() -> None:
    one, analysed, one_cpu = _timed_workers("support", 1)
    print(
        f"  1 pii worker : {one:7.1f} s wall for {analysed} messages, start-up included, "
        f"{one_cpu:6.1f} CPU s = {one_cpu / one:4.2f} cores (load {_load()})"
    )
    two, _, two_cpu = _timed_workers("support", 2)
    print(
        f"  2 pii workers: {two:7.1f} s wall, {two_cpu:6.1f} CPU s = {two_cpu / two:4.2f} cores "
        f"(load {_load()})"
    )
    print(f"  ratio 2 workers / 1 (wall, incl. start-up): {one / two:6.2f}   (target >= 1.8)")
    # The work is the same both times: if the CPU seconds match, the wall ratio is the
    # cores the machine gave (the last figure), not the orchestration.
    print(
        f"  CPU seconds 2 workers / 1: {two_cpu / one_cpu:4.2f}; cores 2 workers / 1: "
        f"{(two_cpu / two) / (one_cpu / one):4.2f}"
    )


if __name__ == "__main__":
    main()
