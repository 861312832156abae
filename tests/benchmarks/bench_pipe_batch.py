"""spaCy ``nlp.pipe`` batch size for the PII detector, by measurement.

Runs the detector (``PiiEngine.iter_analyze``, default settings) over the distinct texts of
the support benchmark (``support_chats.py``) with each batch size, alternating sizes over
``--rounds`` rounds, and prints the best messages/s of each. The chosen default lives in
``CURATOR_PII_PIPE_BATCH``.

    DEBUG=true .venv/bin/python tests/benchmarks/bench_pipe_batch.py [--messages 20000] [--sizes 16,64,256,1024]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from support_chats import conversations

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--sizes", default="16,64,256,1024")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from curation.pii.config import PiiConfig
    from curation.pii.engine import get_engine

    texts = list(
        dict.fromkeys(
            message["content"]
            for chat in conversations(args.messages)
            for message in chat["messages"]
        )
    )
    engine = get_engine()
    config = PiiConfig()
    sizes = [int(size) for size in args.sizes.split(",")]
    best = dict.fromkeys(sizes, 0.0)
    for _ in range(args.rounds):
        for size in sizes:
            started = time.perf_counter()
            for _ in engine.iter_analyze(texts, config, batch_size=size):
                pass
            best[size] = max(best[size], len(texts) / (time.perf_counter() - started))
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"detector over {len(texts)} distinct support texts, best of {args.rounds} (load {load})")
    for size in sizes:
        print(f"  batch_size {size:5d}: {best[size]:7.1f} texts/s")


if __name__ == "__main__":
    main()
