"""PII benchmark: detection throughput against plain spaCy, and recall/precision on labelled data.

Run: ``.venv/bin/python tests/benchmarks/bench_pii.py [--rounds N] [--split all|dev|holdout]``.

Precision (first): false redactions per 100 ordinary messages and recall per labelled kind, on
the chosen ``--split`` (``dev``, ``holdout`` or ``all``) of each labelled set
(``tests/data/pii_ordinary_*``/``pii_planted_*``, the public support conversations in
``tests/data/pii_support/support_*`` read as whole conversations with their contexts, and the
Chinese sentences ``pii_support/chinese_*``), with a new dataset's settings, beside Presidio's
``AnalyzerEngine`` defaults restricted to Curator's own entity types; then redactions per 100
turns of FastChat's demo conversations (unlabelled, nearly no personal data). Docs report the
``holdout`` figures only.

Throughput: messages/s of ``PiiEngine.analyze_texts`` (default dataset config) ÷ messages/s of
spaCy ``nlp.pipe`` with only tok2vec + ner enabled, same texts, same process, best of N
alternating rounds. (In the small English model NER has its own tok2vec layer, so the engine
runs ``ner`` alone; the ner-only rate is printed too, to show what the recognizers cost.) Texts: the 1,500 sentences of presidio-research's synth_dataset_v2 and the
2,000 turns of FastChat's dummy ShareGPT file, from ../shared/fixtures when present (otherwise
a small built-in set, for a smoke run only).

Accuracy on synth_dataset_v2 (gold spans ``{entity_type, start_position, end_position}``),
with every entity type the gold set has a counterpart for switched on:

- recall, any type: a gold span counts as found when any detection overlaps it (the measure
  of the fixtures README, whose Presidio-default baseline is 0.75 overall);
- recall, typed: the overlapping detection must also have a matching type (``GOLD_TO_OURS``);
- char coverage: the share of the gold spans' non-space characters inside a detection;
- precision, any type: the share of detections that overlap some gold span (README: 0.90);
- precision, typed: the overlapped gold span must have a matching type.

Scoring decisions: GPE, STREET_ADDRESS and ZIP_CODE are one location family (our LOCATION,
STREET_ADDRESS and ZIP_CODE); DOMAIN_NAME is our URL; TITLE counts as PERSON because an
honorific is reported inside the person's span ("Mr. Baader"), while job titles have no
detector and stay misses.

The recognizers were written while reading misses from the first half of the file (``dev``);
``--split holdout`` scores only the second half, the fairer number.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT.parent / "shared" / "fixtures"
SYNTH = FIXTURES / "presidio_synth_dataset_v2.json"
SHAREGPT = FIXTURES / "fastchat_dummy_conversation_sharegpt.json"

LOCATION_FAMILY = frozenset({"LOCATION", "STREET_ADDRESS", "ZIP_CODE"})
GOLD_TO_OURS: dict[str, frozenset[str]] = {
    "PERSON": frozenset({"PERSON"}),
    "TITLE": frozenset({"PERSON"}),
    "GPE": LOCATION_FAMILY,
    "STREET_ADDRESS": LOCATION_FAMILY,
    "ZIP_CODE": LOCATION_FAMILY,
    "ORGANIZATION": frozenset({"ORGANIZATION"}),
    "DATE_TIME": frozenset({"DATE_TIME"}),
    "NRP": frozenset({"NRP"}),
    "AGE": frozenset({"AGE"}),
    "DOMAIN_NAME": frozenset({"URL"}),
    "CREDIT_CARD": frozenset({"CREDIT_CARD"}),
    "PHONE_NUMBER": frozenset({"PHONE_NUMBER"}),
    "EMAIL_ADDRESS": frozenset({"EMAIL_ADDRESS"}),
    "IBAN_CODE": frozenset({"IBAN_CODE"}),
    "US_SSN": frozenset({"US_SSN"}),
    "IP_ADDRESS": frozenset({"IP_ADDRESS"}),
    "US_DRIVER_LICENSE": frozenset({"US_DRIVER_LICENSE"}),
}
STRUCTURED = ("CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "PHONE_NUMBER")

_SMOKE_TEXTS = [
    "Hi, my name is Maria Gonzalez and my e-mail is maria.g@example.com.",
    "Call me at +1 (415) 555-0134 or 020 7946 0958 tomorrow.",
    "My card 4111 1111 1111 1111 was charged twice, SSN 219-09-9999.",
    "Please wire it to DE89 3704 0044 0532 0130 00, thanks!",
    "The server at 192.168.10.4 keeps rebooting.",
    "How do I reverse a list in Python?",
    "Dr. Chen lives at 42 Elm Street, Apt. 5, Springfield.",
    "I'm 34 years old and grew up in Lisbon.",
]


def load_synth() -> list[dict[str, Any]]:
    return json.loads(SYNTH.read_text(encoding="utf-8")) if SYNTH.exists() else []


def load_messages() -> list[str]:
    texts = [row["full_text"] for row in load_synth()]
    if SHAREGPT.exists():
        for conversation in json.loads(SHAREGPT.read_text(encoding="utf-8")):
            texts.extend(turn["value"] for turn in conversation["conversations"])
    return texts or _SMOKE_TEXTS * 200


def throughput(texts: Sequence[str], rounds: int) -> None:
    import spacy

    from curation.pii.engine import DEFAULT_MODEL, PiiConfig, get_engine

    model = os.environ.get("CURATOR_SPACY_MODEL", DEFAULT_MODEL)
    engine = get_engine(model)
    baseline_nlp = spacy.load(model, enable=["tok2vec", "ner"])
    config = PiiConfig()

    def run_spacy() -> None:
        for _ in baseline_nlp.pipe(texts, batch_size=64):
            pass

    def run_engine() -> None:
        engine.analyze_texts(texts, config, batch_size=64)

    def run_ner() -> None:
        for _ in engine.nlp.pipe(texts, batch_size=64):
            pass

    # Warm both up so neither pays for first-call allocations in the timed rounds.
    baseline_nlp(texts[0])
    engine.analyze_texts(texts[:64], config)
    best = {"spacy": float("inf"), "engine": float("inf"), "ner": float("inf")}
    for _ in range(rounds):
        for name, run in (("spacy", run_spacy), ("engine", run_engine), ("ner", run_ner)):
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    spacy_rate = len(texts) / best["spacy"]
    engine_rate = len(texts) / best["engine"]
    ner_rate = len(texts) / best["ner"]
    print(f"throughput on {len(texts)} messages (best of {rounds} rounds, 1 process)")
    print(f"  spaCy nlp.pipe tok2vec+ner : {spacy_rate:8.1f} msg/s")
    print(f"  spaCy nlp.pipe ner only    : {ner_rate:8.1f} msg/s   (what the engine runs)")
    print(f"  PiiEngine.analyze_texts    : {engine_rate:8.1f} msg/s")
    print(f"  ratio engine / spaCy       : {engine_rate / spacy_rate:8.2f}   (target >= 0.8)")


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def accuracy(rows: list[dict[str, Any]], label: str, *, default_config: bool = False) -> None:
    from curation.pii.engine import DEFAULT_ENTITIES, PiiConfig, get_engine

    engine = get_engine()
    if default_config:
        config = PiiConfig()
    else:
        config = PiiConfig(entities=[*DEFAULT_ENTITIES, "DATE_TIME", "ORGANIZATION"])
    results = engine.analyze_texts([row["full_text"] for row in rows], config)

    gold_total: Counter[str] = Counter()
    found_any: Counter[str] = Counter()
    found_typed: Counter[str] = Counter()
    chars_total: Counter[str] = Counter()
    chars_covered: Counter[str] = Counter()
    det_total: Counter[str] = Counter()
    det_any: Counter[str] = Counter()
    det_typed: Counter[str] = Counter()

    for row, detections in zip(rows, results, strict=True):
        text = row["full_text"]
        covered = [False] * len(text)
        for det in detections:
            for i in range(det.start, det.end):
                covered[i] = True
        golds = [(s["start_position"], s["end_position"], s["entity_type"]) for s in row["spans"]]
        for start, end, gold_type in golds:
            family = GOLD_TO_OURS.get(gold_type, frozenset())
            hits = [d for d in detections if _overlaps(d.start, d.end, start, end)]
            gold_total[gold_type] += 1
            found_any[gold_type] += bool(hits)
            found_typed[gold_type] += any(d.entity_type in family for d in hits)
            for i in range(start, end):
                if not text[i].isspace():
                    chars_total[gold_type] += 1
                    chars_covered[gold_type] += covered[i]
        for det in detections:
            hits = [g for g in golds if _overlaps(det.start, det.end, g[0], g[1])]
            det_total[det.entity_type] += 1
            det_any[det.entity_type] += bool(hits)
            det_typed[det.entity_type] += any(
                det.entity_type in GOLD_TO_OURS.get(g[2], frozenset()) for g in hits
            )

    def ratio(part: float, whole: float) -> str:
        return f"{part / whole:6.3f}" if whole else "     -"

    if default_config:
        targeted = [t for t in gold_total if t not in ("DATE_TIME", "ORGANIZATION")]
        gold = sum(gold_total[t] for t in targeted)
        detected = sum(det_total.values())
        print(
            f"\n{label}, default dataset entities (no DATE_TIME, ORGANIZATION), over the "
            f"{gold} gold spans of the other types: "
            f"recall(any) {ratio(sum(found_any[t] for t in targeted), gold)}, "
            f"precision(any) {ratio(sum(det_any.values()), detected)}"
        )
        return

    print(f"\naccuracy on {label}: {len(rows)} texts, {sum(gold_total.values())} gold spans")
    print(f"  {'gold type':<18}{'n':>5}  recall(any)  recall(typed)  char-coverage")
    for gold_type, n in gold_total.most_common():
        print(
            f"  {gold_type:<18}{n:>5}  {ratio(found_any[gold_type], n):>11}"
            f"  {ratio(found_typed[gold_type], n):>13}"
            f"  {ratio(chars_covered[gold_type], chars_total[gold_type]):>13}"
        )
    n = sum(gold_total.values())
    print(
        f"  {'OVERALL':<18}{n:>5}  {ratio(sum(found_any.values()), n):>11}"
        f"  {ratio(sum(found_typed.values()), n):>13}"
        f"  {ratio(sum(chars_covered.values()), sum(chars_total.values())):>13}"
    )
    structured = [t for t in STRUCTURED if gold_total[t]]
    s_found = sum(found_any[t] for t in structured)
    s_total = sum(gold_total[t] for t in structured)
    print(f"  structured ({', '.join(structured)}): recall(any) {ratio(s_found, s_total)}")
    print(f"\n  {'detected type':<18}{'n':>5}  precision(any)  precision(typed)")
    for det_type, count in det_total.most_common():
        print(
            f"  {det_type:<18}{count:>5}  {ratio(det_any[det_type], count):>14}"
            f"  {ratio(det_typed[det_type], count):>16}"
        )
    total = sum(det_total.values())
    print(
        f"  {'OVERALL':<18}{total:>5}  {ratio(sum(det_any.values()), total):>14}"
        f"  {ratio(sum(det_typed.values()), total):>16}"
    )


def presidio_defaults() -> Any:
    """Presidio's ``AnalyzerEngine`` as shipped, on the same small spaCy model.

    Only its e-mail recognizer is swapped for the offline one (same pattern and check; the
    shipped one fetches the public suffix list).
    """
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from curation.pii.engine import DEFAULT_MODEL
    from curation.pii.recognizers.base import OfflineEmailRecognizer

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [
                {
                    "lang_code": "en",
                    "model_name": os.environ.get("CURATOR_SPACY_MODEL", DEFAULT_MODEL),
                }
            ],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine())
    analyzer.registry.remove_recognizer("EmailRecognizer")
    analyzer.registry.add_recognizer(OfflineEmailRecognizer())
    return analyzer


def _presidio_support(analyzer: Any, entities: list[str]) -> Any:
    def analyze(conversations: list[dict[str, Any]]) -> list[list[list[tuple[int, int]]]]:
        return [
            [
                [
                    (r.start, r.end)
                    for r in analyzer.analyze(m["content"], language="en", entities=entities)
                ]
                for m in conversation["messages"]
            ]
            for conversation in conversations
        ]

    return analyze


def labelled(split: str) -> None:
    """False redactions per 100 ordinary messages and recall per kind (tests/data), on ``split``."""
    from curation.pii.engine import PiiConfig, get_engine
    from curation.pii.policy import DEFAULT_ENTITIES
    from tests.pii_labelled import Score, score, score_support, support_analyzer

    # A new dataset's settings: the policy's entities at the default threshold (a test checks
    # that Dataset's defaults are these).
    config = PiiConfig()
    engine = get_engine()
    analyzer = presidio_defaults()
    # Presidio's defaults on Curator's own entity types (those it knows), not on all of its own.
    own = [e for e in analyzer.get_supported_entities(language="en") if e in DEFAULT_ENTITIES]

    def ours_texts(texts: list[str]) -> list[list[tuple[int, int]]]:
        return [[(d.start, d.end) for d in found] for found in engine.analyze_texts(texts, config)]

    def presidio_texts(texts: list[str]) -> list[list[tuple[int, int]]]:
        return [
            [(r.start, r.end) for r in analyzer.analyze(text, language="en", entities=own)]
            for text in texts
        ]

    sets: list[tuple[str, Score, Score]] = [
        (
            f"tests/data pii_ordinary + pii_planted [{split}]",
            score(ours_texts, split),
            score(presidio_texts, split),
        ),
        (
            f"tests/data pii_support (CuCom, ABCD) [{split}]",
            score_support(support_analyzer(engine, config), split),
            score_support(_presidio_support(analyzer, own), split),
        ),
        (
            f"tests/data pii_support/chinese (written, Faker zh_CN names) [{split}]",
            score_support(support_analyzer(engine, config), split, corpus="chinese"),
            score_support(_presidio_support(analyzer, own), split, corpus="chinese"),
        ),
        (
            f"tests/data pii_support/chinese_uner (real: UNER zh Wikipedia, hand-labelled) [{split}]",
            score_support(support_analyzer(engine, config), split, corpus="chinese_uner"),
            score_support(_presidio_support(analyzer, own), split, corpus="chinese_uner"),
        ),
    ]
    targets = {
        "STRUCTURED": "= 1.00",
        "PERSON": ">= 0.90",
        "STREET_ADDRESS": ">= 0.90",
        "PERSON_ZH": ">= 0.80",
    }
    for label, ours, baseline in sets:
        print(
            f"\n{label}: {ours.messages} messages without personal data, "
            f"{sum(ours.planted.values())} labelled values"
        )
        print(f"  {'':34}{'Curator defaults':>18}{'Presidio (own types)':>22}   target")
        print(
            f"  {'false redactions / 100 messages':34}{ours.false_per_100:>18.2f}"
            f"{baseline.false_per_100:>22.2f}   <= 3"
        )
        for kind in sorted(ours.planted):
            print(
                f"  {'recall ' + kind + f' (n={ours.planted[kind]})':34}{ours.recall(kind):>18.3f}"
                f"{baseline.recall(kind):>22.3f}   {targets.get(kind, '')}"
            )
        if split != "holdout":
            for text, value in ours.false_examples[:25]:
                print(f"    false: {value!r} in {text[:70]!r}")
            for kind, value in ours.missed[:25]:
                print(f"    missed {kind}: {value!r}")
    print(f"  (Presidio entity types measured: {', '.join(own)})")
    if SHAREGPT.exists():
        # Real demo chat from a public project: unlabelled, and nearly free of personal data,
        # so what gets redacted there is almost all false.
        turns = [
            turn["value"]
            for conversation in json.loads(SHAREGPT.read_text(encoding="utf-8"))
            for turn in conversation["conversations"]
        ]
        ours_n = sum(len(found) for found in engine.analyze_texts(turns, config))
        base_n = sum(len(analyzer.analyze(text, language="en", entities=own)) for text in turns)
        print(
            f"  {'redactions / 100 FastChat turns':34}{100 * ours_n / len(turns):>18.2f}"
            f"{100 * base_n / len(turns):>22.2f}   ({len(turns)} turns, unlabelled)"
        )


BENCH_DB = "curator_bench_pii"
BENCH_REDIS = os.environ.get("CURATOR_BENCH_REDIS", "redis://127.0.0.1:6379/12")


def _bench_env() -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "REDIS_URL": BENCH_REDIS,
        "DJANGO_SETTINGS_MODULE": "curation.settings",
    }


def _setup_django_bench_db() -> None:
    import subprocess

    import psycopg

    with psycopg.connect(
        "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
    ) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    os.environ.update(_bench_env())
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=_bench_env(), check=True
    )
    import django

    django.setup()


def _load_conversations(texts: Sequence[str], copies: int) -> Any:
    """A dataset whose conversations hold the benchmark's texts (two turns each, `copies` times)."""
    from curation.models import Conversation, ConversationStatus, Dataset

    dataset = Dataset.objects.create(name="PII bench", slug="pii-bench")
    rows = []
    for copy in range(copies):
        for index in range(0, len(texts) - 1, 2):
            rows.append(
                Conversation(
                    dataset=dataset,
                    status=ConversationStatus.PENDING_PII,
                    content_hash=f"{copy}-{index}",
                    original=[
                        {"role": "user", "content": texts[index]},
                        {"role": "assistant", "content": texts[index + 1]},
                    ],
                )
            )
    Conversation.objects.bulk_create(rows, batch_size=2000)
    return dataset


def _reset(dataset: Any) -> None:
    from curation.models import Conversation, ConversationStatus, PiiFinding

    PiiFinding.objects.filter(conversation__dataset=dataset).delete()
    Conversation.objects.filter(dataset=dataset).update(
        status=ConversationStatus.PENDING_PII, pii_run=None, redacted=None
    )


def _timed_workers(dataset: Any, workers: int) -> tuple[float, int, float]:
    """Seconds for `workers` burst `pii` workers to finish a run, and the messages analyzed."""
    import subprocess

    import django_rq

    from curation.models import PiiRun
    from curation.services.pii.runs import start_detection

    _reset(dataset)
    django_rq.get_queue("pii").empty()
    run = start_detection(dataset=dataset)
    assert run is not None
    # The planner runs first so that every worker starts with chunks waiting for it.
    subprocess.run(
        [sys.executable, "manage.py", "rqworker", "pii", "--burst", "--max-jobs", "1"],
        cwd=ROOT,
        env=_bench_env(),
        check=True,
        capture_output=True,
    )
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "pii", "--burst"],
            cwd=ROOT,
            env=_bench_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.wait()
    elapsed = time.perf_counter() - started
    run = PiiRun.objects.get(pk=run.pk)
    assert run.status == "succeeded", (run.status, run.error)
    return elapsed, run.messages_analyzed, _chunk_span(run.pk)


def _chunk_span(run_id: int) -> float:
    """Seconds from the first chunk's start to the last chunk's end, from RQ's own records:
    the work itself, without the workers' process start and model load."""
    import django_rq
    from rq.registry import FinishedJobRegistry

    queue = django_rq.get_queue("pii")
    jobs = [
        job
        for job in queue.job_class.fetch_many(
            FinishedJobRegistry(queue=queue).get_job_ids(), connection=queue.connection
        )
        if job is not None and job.func_name.endswith("detect_pii_chunk") and job.args[0] == run_id
    ]
    return (max(job.ended_at for job in jobs) - min(job.started_at for job in jobs)).total_seconds()


def job_throughput(texts: Sequence[str], copies: int) -> None:
    """The detection job (database reads, findings written, redacted copies stored) against
    spaCy, then 2 workers against 1."""
    import spacy

    _setup_django_bench_db()
    from curation.models import PiiRun
    from curation.pii.engine import DEFAULT_MODEL
    from curation.services.pii.runs import run_detection_here, start_detection

    dataset = _load_conversations(texts, copies)
    model = os.environ.get("CURATOR_SPACY_MODEL", DEFAULT_MODEL)
    messages = [t for t in texts[: len(texts) - len(texts) % 2]] * copies
    nlp = spacy.load(model, enable=["tok2vec", "ner"])
    started = time.perf_counter()
    for _ in nlp.pipe(messages, batch_size=64):
        pass
    spacy_rate = len(messages) / (time.perf_counter() - started)

    from curation.pii.engine import get_engine

    get_engine()  # loaded once per worker process in production, before any job
    run = start_detection(dataset=dataset, enqueue=False)
    started = time.perf_counter()
    run_detection_here(run=run)
    job_seconds = time.perf_counter() - started
    run = PiiRun.objects.get(pk=run.pk)
    job_rate = run.messages_analyzed / job_seconds
    print(
        f"\ndetection job on {run.messages_analyzed} messages in {run.done} conversations (1 process)"
    )
    print(f"  spaCy nlp.pipe tok2vec+ner : {spacy_rate:8.1f} msg/s")
    print(f"  detection job              : {job_rate:8.1f} msg/s")
    print(f"  ratio job / spaCy          : {job_rate / spacy_rate:8.2f}   (target >= 0.8)")

    one, analyzed, one_work = _timed_workers(dataset, 1)
    two, _, two_work = _timed_workers(dataset, 2)
    print(f"\nscale-out on {analyzed} messages, burst `pii` workers")
    print(
        f"  1 worker : {analyzed / one_work:6.1f} msg/s while working ({one:5.1f} s wall with process start and model load)"
    )
    print(
        f"  2 workers: {analyzed / two_work:6.1f} msg/s while working ({two:5.1f} s wall with process start and model load)"
    )
    print(
        f"  ratio 2 workers / 1 (throughput)   : {one_work / two_work:8.2f}   (target >= 1.7 on 2 cores)"
    )
    print(f"  ratio 2 workers / 1 (wall, incl. start): {one / two:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--split", choices=["all", "dev", "holdout"], default="all")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--skip-jobs", action="store_true", help="skip the detection-job and scale-out runs"
    )
    parser.add_argument(
        "--copies", type=int, default=2, help="copies of the texts the job benchmark analyzes"
    )
    parser.add_argument(
        "--skip-labelled", action="store_true", help="skip the labelled precision/recall set"
    )
    args = parser.parse_args()

    if not args.skip_labelled:
        labelled(args.split)

    if not args.skip_throughput:
        throughput(load_messages(), args.rounds)
    if not args.skip_jobs:
        job_throughput(load_messages(), args.copies)
    rows = load_synth()
    if not rows:
        print(f"\n{SYNTH} not found: accuracy skipped")
        return
    half = len(rows) // 2
    splits = {"dev": rows[:half], "holdout": rows[half:], "all": rows}
    names = ("all", "holdout") if args.split == "all" else (args.split,)
    for name in names:
        accuracy(splits[name], f"synth_dataset_v2 [{name}]")
    for name in names:
        accuracy(splits[name], f"synth_dataset_v2 [{name}]", default_config=True)


if __name__ == "__main__":
    main()
