"""The PII detector with its NER prefilter ÷ the same detector running the NER on every text.

Runs ``PiiEngine.iter_analyze`` (default settings) over the distinct (text, context) pairs of
the support benchmark's conversations (``support_chats.py``, CuCom by default), once with the
prefilter (only texts that could yield a reported NER name go through spaCy's NER) and once
without (every text through it, the detector as it was before the prefilter), in alternating
blocks so that both see the same machine load. Prints both rates, their ratio, the share of
texts that went through the NER, and whether every finding (offsets, type, score) is the
same; exits non-zero if one differs.

    DEBUG=true .venv/bin/python tests/benchmarks/bench_pii_prefilter.py [--messages 71338] [--block 2000] [--baseline-code DIR]

``--baseline-code DIR`` (a checkout of earlier code: ``git archive COMMIT | tar -x -C DIR``)
also runs that code's detector over the same pairs in a child process and compares its
findings with the prefiltered ones, with the CPU seconds each took: today's path itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support_chats import CORPORA, conversations


def _code_root() -> Path:
    """This checkout, or the one ``--code`` names (read before anything imports ``curation``)."""
    if "--code" in sys.argv:
        return Path(sys.argv[sys.argv.index("--code") + 1]).resolve()
    return Path(__file__).resolve().parents[2]


ROOT = _code_root()
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=71_338, help="the whole CuCom corpus")
    parser.add_argument("--corpus", choices=CORPORA, default="cucom")
    parser.add_argument("--block", type=int, default=2_000, help="texts per alternating block")
    parser.add_argument("--baseline-code", type=Path, help="earlier code to compare with")
    parser.add_argument("--code", type=Path, help="(internal) the checkout whose detector runs")
    parser.add_argument("--dump", type=Path, help="(internal) write its findings here, only")
    args = parser.parse_args()

    from curation.pii.config import PiiConfig
    from curation.pii.conversation import message_contexts
    from curation.pii.engine import get_engine

    pairs: dict[tuple, None] = {}
    total = 0
    for chat in conversations(args.messages, corpus=args.corpus):
        messages = [(message["role"], message["content"]) for message in chat["messages"]]
        total += len(messages)
        for (_, text), context in zip(messages, message_contexts(messages), strict=True):
            pairs.setdefault((text, context), None)
    items = list(pairs)
    engine = get_engine()
    config = PiiConfig()
    engine.analyze_texts([text for text, _ in items[:20]], config)  # warm-up
    if args.dump:
        cpu = time.process_time()
        dumped = engine.analyze_texts(
            [text for text, _ in items], config, contexts=[context for _, context in items]
        )
        args.dump.write_text(
            json.dumps({"cpu": time.process_time() - cpu, "findings": _plain(dumped)})
        )
        return
    # Only this checkout has it (the dump above may run an earlier one).
    from curation.pii.evidence import may_name_listed_person

    seconds = {True: 0.0, False: 0.0}
    cpu_prefiltered = 0.0
    prefiltered: list = []
    differ: list[tuple[str, list, list]] = []
    for start in range(0, len(items), args.block):
        block = items[start : start + args.block]
        texts = [text for text, _ in block]
        contexts = [context for _, context in block]
        found = {}
        # Alternate which path goes first, so neither always meets a warmer cache.
        order = (True, False) if (start // args.block) % 2 == 0 else (False, True)
        for prefilter in order:
            started, cpu = time.perf_counter(), time.process_time()
            found[prefilter] = engine.analyze_texts(
                texts, config, contexts=contexts, ner_prefilter=prefilter
            )
            seconds[prefilter] += time.perf_counter() - started
            if prefilter:
                cpu_prefiltered += time.process_time() - cpu
        prefiltered.extend(found[True])
        differ.extend(
            (text, full, fast)
            for text, full, fast in zip(texts, found[False], found[True], strict=True)
            if full != fast
        )
    through_ner = sum(
        may_name_listed_person(text, [(t.idx, t.idx + len(t)) for t in engine.nlp.make_doc(text)])
        for text, _ in items
    )
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{len(items)} distinct (text, context) pairs of {total} {args.corpus} messages (load {load})"
    )
    print(
        f"  NER on every text : {seconds[False]:7.1f} s = {len(items) / seconds[False]:7.1f} texts/s"
    )
    print(
        f"  with the prefilter: {seconds[True]:7.1f} s = {len(items) / seconds[True]:7.1f} texts/s"
    )
    print(f"  ratio prefilter / every text: {seconds[False] / seconds[True]:5.2f}")
    print(f"  texts through the NER with the prefilter: {through_ner / len(items):.1%}")
    print(f"  findings identical on all {len(items)}: {not differ}")
    for text, full, fast in differ[:10]:
        print(f"    {text[:80]!r}\n      every text: {full}\n      prefilter : {fast}")
    if args.baseline_code:
        with tempfile.TemporaryDirectory() as folder:
            dump = Path(folder) / "baseline.json"
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    *("--code", str(args.baseline_code), "--dump", str(dump)),
                    *("--messages", str(args.messages), "--corpus", args.corpus),
                ],
                check=True,
            )
            baseline = json.loads(dump.read_text())
        mismatched = sum(
            old != new for old, new in zip(baseline["findings"], _plain(prefiltered), strict=True)
        )
        print(
            f"  code of {args.baseline_code}: {baseline['cpu']:7.1f} CPU s; this code with the "
            f"prefilter {cpu_prefiltered:7.1f} CPU s; ratio {baseline['cpu'] / cpu_prefiltered:5.2f}"
        )
        print(f"  findings identical to that code's on all {len(items)}: {not mismatched}")
        if mismatched:
            raise SystemExit(f"{mismatched} texts have other findings than {args.baseline_code}'s")
    if differ:
        raise SystemExit(f"{len(differ)} texts have other findings with the prefilter")


def _plain(found: list) -> list:
    """Findings as JSON-ready lists: (start, end, type, score) per detection, per text."""
    return [[[d.start, d.end, d.entity_type, d.score] for d in each] for each in found]


if __name__ == "__main__":
    main()
